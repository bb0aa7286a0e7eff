import hello.ci.Environments
import hello.ci.ImageRef

/**
 * Renders every environment's overlay with the built digest pinned, checks the
 * rendered Deployment really uses that digest (an image name that the manifests
 * do not use makes the pin a silent no-op), archives the rendered YAML and,
 * for `serverDryRun` environments, asks that cluster's API server to validate
 * it (admission, Pod Security, installed CRDs).
 */
def call(Map args = [:]) {
    List<String> environments = args.environments ?: Environments.names()
    List<String> serverDryRun = args.serverDryRun ?: []
    String image = args.image
    String outDir = args.outputDir ?: 'build/manifests'
    for (String envName in environments + serverDryRun) {
        if (!Environments.isKnown(envName)) {
            error("validateManifests: unknown environment '${envName}' (known: ${Environments.names().join(', ')})")
        }
    }
    if (!image || !image.contains('@') || !ImageRef.isDigest(image.substring(image.indexOf('@') + 1))) {
        error("validateManifests: need an image pinned by digest (got '${image}')")
    }
    container(args.container ?: 'kubectl') {
        String name = args.name ?: workloadImage()
        sh(label: 'output dir', script: "mkdir -p ${outDir}")
        for (String envName in environments) {
            Map target = Environments.lookup(envName)
            String rendered = "${outDir}/${envName}.yaml"
            String pinned = pinImage(overlay: target.overlay, name: name, image: image)
            sh(label: "render ${envName}", script: "kubectl kustomize ${pinned} > ${rendered}")
            if (!readFile(rendered).contains("image: ${image}")) {
                error("validateManifests: ${target.overlay} does not deploy ${image}; " +
                      "is '${name}' the image name in its kustomization?")
            }
            if (envName in serverDryRun) {
                withCredentials([file(credentialsId: target.kubeconfigCredentialsId, variable: 'KUBECONFIG')]) {
                    sh(label: "server dry-run ${envName}", script: "kubectl apply --dry-run=server -f ${rendered}")
                }
            }
        }
    }
    archiveArtifacts(artifacts: "${outDir}/*.yaml")
}
