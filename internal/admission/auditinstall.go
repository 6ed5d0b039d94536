package admission

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names of the audit receiver's objects.
const (
	AuditName        = "bulwark-audit"
	AuditTokenSecret = "bulwark-audit-token"
	AuditTLSSecret   = "bulwark-audit-tls"
	auditDataDir     = "/var/lib/bulwark/audit"
)

// AuditReceiver is the receiver of the API server's audit webhook
// (bulwark serve --audit) that bulwark install adds: one replica (the
// archive journal has one writer) with a persistent volume for the
// journal, index and alert spools, its Service and NetworkPolicy, and RBAC
// limited to what /metrics authentication needs. Its bearer tokens and
// serving certificate are Secrets the cluster's owner creates
// (AuditTokenSecret, AuditTLSSecret): the API server's webhook kubeconfig
// must hold the same token and trust the same CA.
type AuditReceiver struct {
	// StorageSize is the volume's size (default 20Gi); StorageClass its
	// class (default: the cluster's default class).
	StorageSize  string
	StorageClass string
	// Retention is --audit-retention (default 2160h, 90 days).
	Retention string
	// SinkCIDRs are where alerts go (the SIEM's syslog over TLS on 6514,
	// HTTPS sinks on 443), for the egress NetworkPolicy; empty allows
	// those ports to any address.
	SinkCIDRs []string
}

func (a *AuditReceiver) defaults() {
	if a.StorageSize == "" {
		a.StorageSize = "20Gi"
	}
	if a.Retention == "" {
		a.Retention = "2160h"
	}
}

// auditObjects are the receiver's objects; meta and labels as in
// Manifests.
func auditObjects(o InstallOptions, meta func(string, bool) metav1.ObjectMeta) ([]any, error) {
	a := *o.Audit
	a.defaults()
	size, err := resource.ParseQuantity(a.StorageSize)
	if err != nil {
		return nil, fmt.Errorf("audit storage size %q: %w", a.StorageSize, err)
	}
	selector := map[string]string{"app.kubernetes.io/name": "bulwark", "app.kubernetes.io/component": "audit"}
	withComponent := func(m metav1.ObjectMeta) metav1.ObjectMeta {
		l := map[string]string{"app.kubernetes.io/component": "audit"}
		for k, v := range m.Labels {
			l[k] = v
		}
		m.Labels = l
		return m
	}
	auditMeta := func(name string, namespaced bool) metav1.ObjectMeta { return withComponent(meta(name, namespaced)) }

	args := []string{
		"serve", "--audit",
		"--listen=:" + strconv.Itoa(httpsPort),
		"--tls-cert-file=/etc/bulwark/tls/tls.crt",
		"--tls-key-file=/etc/bulwark/tls/tls.key",
		"--audit-token-file=/etc/bulwark/token/tokens",
		"--data-dir=" + auditDataDir,
		"--config=/etc/bulwark/config/bulwark.yaml",
		"--audit-retention=" + a.Retention,
		"--log-format=json",
	}
	c := serverContainer(o.Image, args, 5,
		corev1.VolumeMount{Name: "data", MountPath: auditDataDir},
		corev1.VolumeMount{Name: "config", MountPath: "/etc/bulwark/config", ReadOnly: true},
		corev1.VolumeMount{Name: "tls", MountPath: "/etc/bulwark/tls", ReadOnly: true},
		corev1.VolumeMount{Name: "token", MountPath: "/etc/bulwark/token", ReadOnly: true},
	)
	spec := serverPodSpec(AuditName, 60, c,
		corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMapName}}}},
		corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: AuditTLSSecret}}},
		corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: AuditTokenSecret}}},
	)
	// The volume is written by the non-root user.
	gid := int64(65532)
	spec.SecurityContext.FSGroup = &gid
	one := int32(1)
	pvc := corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: selector},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
		},
	}
	if a.StorageClass != "" {
		pvc.Spec.StorageClassName = &a.StorageClass
	}
	podLabels := withComponent(metav1.ObjectMeta{Labels: meta("", false).Labels}).Labels

	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
		pp := p
		v := intstr.FromInt32(n)
		return networkingv1.NetworkPolicyPort{Protocol: &pp, Port: &v}
	}
	return []any{
		&corev1.ServiceAccount{TypeMeta: tm("v1", "ServiceAccount"), ObjectMeta: auditMeta(AuditName, true), AutomountServiceAccountToken: ptr(false)},
		// Only what /metrics authentication needs: review tokens, ask who
		// may get it.
		&rbacv1.ClusterRole{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: auditMeta(AuditName, false),
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
				{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
			},
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta: tm("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: auditMeta(AuditName, false),
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: AuditName},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: AuditName, Namespace: o.Namespace}},
		},
		httpsService(auditMeta(AuditName, true), selector),
		&appsv1.StatefulSet{
			TypeMeta: tm("apps/v1", "StatefulSet"), ObjectMeta: auditMeta(AuditName, true),
			Spec: appsv1.StatefulSetSpec{
				Replicas:             &one,
				ServiceName:          AuditName,
				Selector:             &metav1.LabelSelector{MatchLabels: selector},
				Template:             corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: spec},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{pvc},
			},
		},
		// The receiver takes the API server's batches on its port and
		// reaches the API server (443, 6443, for /metrics
		// authentication), the alert sinks (a SIEM's syslog over TLS on
		// 6514, HTTPS on 443) and DNS.
		&networkingv1.NetworkPolicy{
			TypeMeta: tm("networking.k8s.io/v1", "NetworkPolicy"), ObjectMeta: auditMeta(AuditName, true),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: selector},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{port(tcp, httpsPort)}}},
				Egress: []networkingv1.NetworkPolicyEgressRule{
					{Ports: []networkingv1.NetworkPolicyPort{port(tcp, 443), port(tcp, 6443)}, To: cidrPeers(o.APIServerCIDRs)},
					{Ports: []networkingv1.NetworkPolicyPort{port(tcp, 443), port(tcp, 6514)}, To: cidrPeers(a.SinkCIDRs)},
					{Ports: []networkingv1.NetworkPolicyPort{port(udp, 53), port(tcp, 53)}, To: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
					}}},
				},
			},
		},
	}, nil
}

// AuditManifests returns only the audit receiver's objects of an
// installation (o.Audit, or the defaults when nil), for a cluster where
// bulwark install has already run: they use its namespace and ConfigMap.
func AuditManifests(o InstallOptions) ([]map[string]any, error) {
	if o.Audit == nil {
		o.Audit = &AuditReceiver{}
	}
	o.defaults()
	objs, err := auditObjects(o, installMeta(o))
	if err != nil {
		return nil, err
	}
	return toMaps(objs)
}

// cidrPeers are NetworkPolicy peers for CIDRs; none (any address) when
// cidrs is empty.
func cidrPeers(cidrs []string) []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for _, c := range cidrs {
		out = append(out, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c}})
	}
	return out
}
