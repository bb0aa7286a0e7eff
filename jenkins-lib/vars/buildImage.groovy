import hello.ci.ImageRef
import hello.ci.Shell

/**
 * Builds the repo's Dockerfile with rootless buildah, pushes REPOSITORY:TAG and
 * returns REPOSITORY@sha256:... (the digest the registry stored), which every
 * later stage uses instead of the tag. REPOSITORY defaults to workloadImage():
 * the image name the manifests deploy.
 */
String call(Map args = [:]) {
    String tag = args.tag
    if (tag && !ImageRef.isValidTag(tag)) {
        error("buildImage: bad image tag '${tag}'")
    }
    // The image name the manifests deploy, unless the caller names another repository.
    String repository = args.repository ?: (tag ? workloadImage() : null)
    if (!repository || !ImageRef.isValidRepository(repository)) {
        error("buildImage: missing or bad repository '${repository}' (e.g. registry.example.com/team/hello)")
    }
    if (!tag) {
        error('buildImage: missing image tag (pass tag: the commit id)')
    }
    if (!ImageRef.isValidTag(tag)) {
        error("buildImage: bad image tag '${tag}'")
    }
    String credentialsId = args.credentialsId ?: 'registry-hello'
    String dockerfile = args.dockerfile ?: 'Dockerfile'
    String contextDir = args.context ?: '.'
    Map buildArgs = args.buildArgs ?: [:]
    Map labels = args.labels ?: [:]
    String ref = "${repository}:${tag}"
    String registry = ImageRef.parse(ref).registry
    String digestFile = '.image-digest'

    // --format docker: the OCI image config has no HEALTHCHECK; Docker's keeps it.
    List<String> bud = ['buildah', 'bud', '--format', 'docker', '--file', Shell.quote(dockerfile), '--tag', Shell.quote(ref)]
    // Plain loops: closures over maps are where CPS and plain Groovy differ.
    for (def e in buildArgs.entrySet()) {
        bud += ['--build-arg', Shell.quote("${e.key}=${e.value}")]
    }
    for (def e in labels.entrySet()) {
        bud += ['--label', Shell.quote("${e.key}=${e.value}")]
    }
    bud << Shell.quote(contextDir)

    String image
    container(args.container ?: 'buildah') {
        withCredentials([usernamePassword(credentialsId: credentialsId,
                                          usernameVariable: 'REGISTRY_USER', passwordVariable: 'REGISTRY_PASSWORD')]) {
            // Single quotes: the shell expands the secret, Groovy never sees it.
            sh(label: 'registry login', script: 'printf \'%s\' "$REGISTRY_PASSWORD" | ' +
               "buildah login --username \"\$REGISTRY_USER\" --password-stdin ${Shell.quote(registry)}")
        }
        sh(label: 'build image', script: bud.join(' '))
        sh(label: 'push image', script: "buildah push --digestfile ${digestFile} ${Shell.quote(ref)} " +
           "${Shell.quote('docker://' + ref)}")
        String digest = readFile(digestFile).trim()
        if (!ImageRef.isDigest(digest)) {
            error("buildImage: push of ${ref} gave no sha256 digest (got '${digest}')")
        }
        image = "${repository}@${digest}"
    }
    echo "buildImage: pushed ${ref} as ${image}"
    image
}
