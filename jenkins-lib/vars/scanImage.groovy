import hello.ci.ImageRef
import hello.ci.Shell

/**
 * Scans an image (by digest) with Trivy and fails on findings at the given
 * severities (HIGH and CRITICAL by default). Findings and scanner errors give
 * different messages: exit code 3 means findings.
 */
def call(Map args = [:]) {
    String image = args.image
    if (!image) {
        error('scanImage: missing image (pass image: REPOSITORY@sha256:...)')
    }
    ImageRef ref
    try {
        ref = ImageRef.parse(image)
    } catch (IllegalArgumentException e) {
        error("scanImage: ${e.message}")
    }
    if (!ref.pinned) {
        error("scanImage: ${image} is not pinned by digest; scan exactly what will be deployed")
    }
    String severity = args.severity ?: 'HIGH,CRITICAL'
    List<String> known = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']
    for (String level in severity.tokenize(',')) {
        if (!(level in known)) {
            error("scanImage: bad severity '${level}' (from ${known.join(',')})")
        }
    }
    String credentialsId = args.credentialsId ?: 'registry-hello'
    int rc = 0
    container(args.container ?: 'trivy') {
        // Trivy reads TRIVY_USERNAME/TRIVY_PASSWORD itself: no secret on the command line.
        withCredentials([usernamePassword(credentialsId: credentialsId,
                                          usernameVariable: 'TRIVY_USERNAME', passwordVariable: 'TRIVY_PASSWORD')]) {
            rc = sh(label: 'trivy scan', returnStatus: true,
                    script: "trivy image --no-progress --cache-dir .trivy-cache --scanners vuln " +
                            "--severity ${severity} --exit-code 3 ${Shell.quote(ref.byDigest())}")
        }
    }
    if (rc == 3) {
        error("scanImage: ${severity} vulnerabilities in ${ref.byDigest()} (see the table above)")
    } else if (rc != 0) {
        error("scanImage: trivy failed with exit code ${rc}")
    }
}
