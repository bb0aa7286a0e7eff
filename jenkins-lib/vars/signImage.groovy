import hello.ci.ImageRef
import hello.ci.Shell

/**
 * Signs the image digest with cosign (key pair held by Jenkins) and, given an
 * SBOM, attaches it as a signed CycloneDX attestation.
 */
def call(Map args = [:]) {
    String image = args.image
    ImageRef ref = null
    try {
        ref = image ? ImageRef.parse(image) : null
    } catch (IllegalArgumentException e) {
        error("signImage: ${e.message}")
    }
    if (ref == null || !ref.pinned) {
        // Signing a tag signs whatever the tag points at when cosign resolves it.
        error("signImage: need an image pinned by digest (got '${image}')")
    }
    String keyId = args.keyCredentialsId ?: 'cosign-key'
    String passwordId = args.passwordCredentialsId ?: 'cosign-password'
    String registryId = args.registryCredentialsId ?: 'registry-hello'
    String target = Shell.quote(ref.byDigest())
    container(args.container ?: 'cosign') {
        withCredentials([file(credentialsId: keyId, variable: 'COSIGN_KEY'),
                         string(credentialsId: passwordId, variable: 'COSIGN_PASSWORD'),
                         usernamePassword(credentialsId: registryId,
                                          usernameVariable: 'REGISTRY_USER', passwordVariable: 'REGISTRY_PASSWORD')]) {
            sh(label: 'registry login', script: 'printf \'%s\' "$REGISTRY_PASSWORD" | ' +
               "cosign login --username \"\$REGISTRY_USER\" --password-stdin ${Shell.quote(ref.registry)}")
            sh(label: 'sign', script: "cosign sign --yes --key \"\$COSIGN_KEY\" ${target}")
            if (args.sbom) {
                sh(label: 'attest SBOM', script: "cosign attest --yes --key \"\$COSIGN_KEY\" --type cyclonedx " +
                   "--predicate ${Shell.quote(args.sbom as String)} ${target}")
            }
        }
    }
}
