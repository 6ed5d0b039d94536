package posture

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
)

var shapes = []string{"az", "arm", "terraform"}

// insecureFailures are the checks the default-settings cluster fails.
var insecureFailures = []string{
	idAAD, idAzureRBAC, idLocalAccounts, idAuditLogs, idAPIAccess, idDefender,
	idSubnet, idEgress, idNetworkPolicy, idRegions, idPublicIPs, idAzurePolicy,
	idKeyVault, idWorkloadID, idKMS, idImageCleaner, idUpgradeChannel, idVersion,
}

// TestSameVerdictsWhicheverShape is the posture engine's contract: the
// same cluster described as `az aks show` output (with its diagnostic
// settings and extensions), as an ARM template and as a Terraform plan
// gets the same verdict from every check.
func TestSameVerdictsWhicheverShape(t *testing.T) {
	cfg := workshopConfig(t)
	for _, cluster := range []string{"secure", "insecure"} {
		t.Run(cluster, func(t *testing.T) {
			per := map[string]map[string]Status{}
			for _, shape := range shapes {
				per[shape] = statuses(t, cfg, shapeInputs(t, examples+"/"+cluster+"/"+shape)...)
				if len(per[shape]) != len(Checks()) {
					t.Fatalf("%s: %d checks ran, want %d", shape, len(per[shape]), len(Checks()))
				}
			}
			for _, c := range Checks() {
				az := per["az"][c.ID]
				for _, shape := range shapes[1:] {
					if per[shape][c.ID] != az {
						t.Errorf("%s %s: az aks show says %s, %s says %s", cluster, c.ID, az, shape, per[shape][c.ID])
					}
				}
			}
			switch cluster {
			case "secure":
				for id, st := range per["az"] {
					if st != Pass {
						t.Errorf("secure cluster: %s is %s", id, st)
					}
				}
			case "insecure":
				var failed []string
				for id, st := range per["az"] {
					if st == Fail {
						failed = append(failed, id)
					}
				}
				sort.Strings(failed)
				if fmt.Sprint(failed) != fmt.Sprint(insecureFailures) {
					t.Errorf("insecure cluster fails %v, want %v", failed, insecureFailures)
				}
				if per["az"][idGitOps] != Unknown || per["az"][idPublicFQDN] != NotApplicable {
					t.Errorf("GitOps %s, public FQDN %s", per["az"][idGitOps], per["az"][idPublicFQDN])
				}
			}
		})
	}
}

// TestFindingsPointAtTheField checks findings carry engine, file and the
// line of the offending field in each shape.
func TestFindingsPointAtTheField(t *testing.T) {
	cfg := workshopConfig(t)
	fields := map[string]map[string]string{ // shape → check → text on the finding's line
		"az":        {idLocalAccounts: `"disableLocalAccounts": false`, idNetworkPolicy: `"networkPolicy": "none"`, idVersion: `"currentKubernetesVersion"`, idRegions: `"location": "westus"`},
		"arm":       {idLocalAccounts: `"disableLocalAccounts": false`, idNetworkPolicy: `"networkPolicy": "none"`, idVersion: `"kubernetesVersion"`, idRegions: `"location": "westus"`},
		"terraform": {idLocalAccounts: `"local_account_disabled": null`, idNetworkPolicy: `"network_policy": null`, idVersion: `"kubernetes_version"`, idRegions: `"location": "westus"`},
	}
	for _, shape := range shapes {
		t.Run(shape, func(t *testing.T) {
			findings, cov := Evaluate(shapeInputs(t, examples+"/insecure/"+shape), cfg)
			if len(findings) == 0 {
				t.Fatal("no findings")
			}
			for _, f := range findings {
				if f.Engine != "posture" || f.File == "" || f.Line <= 0 || f.Message == "" || f.Remediation == "" {
					t.Errorf("incomplete finding: %+v", f)
				}
			}
			for id, text := range fields[shape] {
				found := false
				for _, f := range findings {
					if f.Check != id {
						continue
					}
					if line := lineOf(t, f.File, f.Line); strings.Contains(line, text) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: no finding points at a line with %s", id, text)
				}
			}
			if !strings.Contains(cov.NotAssessed[idGitOps], "no Flux extension") {
				t.Errorf("GitOps coverage reason %q", cov.NotAssessed[idGitOps])
			}
			if cov.Evaluated[idAAD] != 1 {
				t.Errorf("AAD evaluated %d times", cov.Evaluated[idAAD])
			}
		})
	}
}

func lineOf(t *testing.T, file string, n int) string {
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, file)))
	sc.Buffer(nil, 1<<20)
	for i := 1; sc.Scan(); i++ {
		if i == n {
			return sc.Text()
		}
	}
	return ""
}
