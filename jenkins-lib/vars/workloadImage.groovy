import hello.ci.Environments
import hello.ci.Manifests

/**
 * The image name (repository, no tag or digest) the workload's manifests deploy:
 * renders the kustomize base and reads the image of its Deployment. This is the
 * one place the pipeline's image name comes from; to push elsewhere, change the
 * image in the base Deployment (and the overlays follow).
 */
String call(Map args = [:]) {
    String base = args.base ?: Environments.BASE
    String deployment = args.deployment ?: Environments.DEPLOYMENT
    String rendered = args.output ?: 'build/manifests/base.yaml'
    container(args.container ?: 'kubectl') {
        sh(label: 'render base', script: "mkdir -p ${rendered.substring(0, rendered.lastIndexOf('/'))} && " +
           "kubectl kustomize ${base} > ${rendered}")
    }
    String name
    try {
        name = Manifests.workloadImageName(readFile(rendered), deployment)
    } catch (IllegalArgumentException e) {
        error("workloadImage: ${base}: ${e.message}")
    }
    echo "workloadImage: ${base} deploys ${name}"
    name
}
