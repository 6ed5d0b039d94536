// Package admission is Bulwark's admission webhook: the validating handler
// (/validate) that judges admission.k8s.io/v1 AdmissionReviews with the same
// policy engine, library and configuration as bulwark scan, and the
// mutating handler (/mutate) that sets imagePullPolicy: Always and, when
// asked, securityContext defaults, as a JSONPatch.
//
// It also holds what keeps the engine current while it serves: the
// inventory fed by watches of the objects the library's templates read
// (Inventory), ConstraintTemplates and constraints watched from the
// cluster (Policies), the background audit that writes PolicyReports
// (Audit), the serving certificate bulwark manages for itself (CertManager)
// and the Prometheus metrics of all of them.
//
// The package does not start an HTTP server; bulwark serve mounts its
// handlers on one.
package admission
