import hello.ci.ImageRef
import hello.ci.Shell

/** Writes a CycloneDX SBOM of the image (by digest) with Trivy, archives it, returns its path. */
String call(Map args = [:]) {
    String image = args.image
    if (!image || !image.contains('@') || !ImageRef.isDigest(image.substring(image.indexOf('@') + 1))) {
        error("generateSbom: need an image pinned by digest (got '${image}')")
    }
    String output = args.output ?: 'sbom.cdx.json'
    String credentialsId = args.credentialsId ?: 'registry-hello'
    container(args.container ?: 'trivy') {
        withCredentials([usernamePassword(credentialsId: credentialsId,
                                          usernameVariable: 'TRIVY_USERNAME', passwordVariable: 'TRIVY_PASSWORD')]) {
            sh(label: 'SBOM', script: "trivy image --no-progress --cache-dir .trivy-cache --format cyclonedx " +
               "--output ${Shell.quote(output)} ${Shell.quote(image)}")
        }
    }
    archiveArtifacts(artifacts: output, fingerprint: true)
    output
}
