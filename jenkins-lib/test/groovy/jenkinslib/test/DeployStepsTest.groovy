package jenkinslib.test

import org.junit.Test

/** pinImage, validateManifests, deployKustomize, rolloutStatus, smokeTest. */
class DeployStepsTest extends LibTestCase {

    static final String RENDER_BASE = 'mkdir -p build/manifests && kubectl kustomize k8s/base > build/manifests/base.yaml'

    @Test
    void theImageNameComesFromTheRepositorysBaseDeployment() {
        assert h.call('workloadImage') == REPO
        assert h.shScripts() == [RENDER_BASE]
        assert h.callsOf('sh')[0].container == 'kubectl'
        // The same name as the prod overlay's `images:` entry (kustomize matches on it).
        File prod = new File(PipelineHarness.REPO_ROOT, 'k8s/overlays/prod/kustomization.yaml')
        assert prod.text =~ /(?m)^  - name: ${java.util.regex.Pattern.quote(REPO)}\s*(#.*)?$/
    }

    @Test
    void pinImageWritesALayerThatPinsTheDigestOnTopOfTheOverlay() {
        assert h.call('pinImage', [overlay: 'k8s/overlays/dev', image: IMAGE]) == 'build/pinned/dev'
        String layer = h.files['build/pinned/dev/kustomization.yaml']
        assert layer.contains('  - ../../../k8s/overlays/dev\n')
        assert layer.contains("  - name: ${REPO}\n    newName: ${REPO}\n    digest: ${PipelineHarness.DIGEST}\n")
        // Rendered by the real kubectl from the real overlay: the Deployment runs the digest.
        assert hello.ci.Manifests.deploymentImages(h.kustomize('build/pinned/dev'), 'hello') == [IMAGE]
        assert failureOf { h.call('pinImage', [overlay: 'k8s/overlays/dev', image: "${REPO}:1"]) } ==
            "pinImage: need an image pinned by digest (got '${REPO}:1')"
        assert failureOf { h.call('pinImage', [image: IMAGE]) } == 'pinImage: missing overlay directory'
        assert failureOf { h.call('pinImage', [overlay: '../elsewhere', image: IMAGE, name: REPO]) } ==
            "pinImage: overlay must be a relative path inside the workspace (got '../elsewhere')"
    }

    @Test
    void validateRendersEveryOverlayAndDryRunsDev() {
        h.call('validateManifests', [image: IMAGE, serverDryRun: ['dev']])
        assert h.shScripts() == [
            RENDER_BASE,
            'mkdir -p build/manifests',
            'kubectl kustomize build/pinned/dev > build/manifests/dev.yaml',
            'kubectl apply --dry-run=server -f build/manifests/dev.yaml',
            'kubectl kustomize build/pinned/prod > build/manifests/prod.yaml',
        ]
        // The real overlays, rendered: both deploy exactly the digest.
        assert hello.ci.Manifests.deploymentImages(h.files['build/manifests/dev.yaml'], 'hello') == [IMAGE]
        assert hello.ci.Manifests.deploymentImages(h.files['build/manifests/prod.yaml'], 'hello') == [IMAGE]
        assert h.shCall('--dry-run=server').credentials == ['kubeconfig-hello-dev']
        assert h.callsOf('sh').every { it.container == 'kubectl' }
        assert h.callsOf('archiveArtifacts')[0].args[0] == [artifacts: 'build/manifests/*.yaml']
    }

    @Test
    void validateFailsWhenTheManifestsUseAnotherImageName() {
        // The pin names an image the manifests do not use: kustomize changes nothing.
        // (The library's old default, `hello`, was such a name.)
        assert failureOf { h.call('validateManifests', [image: IMAGE, name: 'hello']) } ==
            "validateManifests: k8s/overlays/dev does not deploy ${IMAGE}; is 'hello' the image name in its kustomization?"
    }

    @Test
    void validateRejectsUnknownEnvironmentsAndTags() {
        assert failureOf { h.call('validateManifests', [image: IMAGE, environments: ['dev', 'qa']]) } ==
            "validateManifests: unknown environment 'qa' (known: dev, prod)"
        assert failureOf { h.call('validateManifests', [image: "${REPO}:1"]) } ==
            "validateManifests: need an image pinned by digest (got '${REPO}:1')"
        assert h.callsOf('sh').isEmpty()
    }

    @Test
    void deployAppliesWaitsAndSmokeTestsWithThatEnvironmentsKubeconfig() {
        h.call('deployKustomize', [environment: 'prod', image: IMAGE])
        assert h.shScripts() == [
            RENDER_BASE,
            'kubectl apply --dry-run=server -k build/pinned/prod',
            'kubectl apply -k build/pinned/prod',
            'kubectl --namespace hello rollout status deployment/hello --timeout=5m',
            'sh .ci-smoke-http.sh hello hello admin /readyz 30',
            'sh .ci-smoke-http.sh hello hello http / 30',
        ]
        assert h.files['build/pinned/prod/kustomization.yaml'].contains("digest: ${PipelineHarness.DIGEST}")
        assert h.callsOf('sh').every { it.container == 'kubectl' }
        assert h.callsOf('sh')*.credentials == [[]] + [['kubeconfig-hello-prod']] * 5
        assert h.callsOf('withCredentials')[0].args[0] ==
            [[kind: 'file', credentialsId: 'kubeconfig-hello-prod', variable: 'KUBECONFIG']]
        // The smoke script shipped in resources/ is what gets run.
        assert h.files['.ci-smoke-http.sh'] == new File(PipelineHarness.LIB_ROOT, 'resources/hello/ci/smoke-http.sh').text
        assert h.callsOf('rolloutStatus').size() == 1 && h.callsOf('smokeTest').size() == 2
    }

    @Test
    void deployToAnUnknownEnvironmentIsAClearError() {
        assert failureOf { h.call('deployKustomize', [environment: 'production', image: IMAGE]) } ==
            "deployKustomize: unknown environment 'production' (known: dev, prod)"
        assert failureOf { h.call('deployKustomize', [image: IMAGE]) } ==
            "deployKustomize: unknown environment 'null' (known: dev, prod)"
        assert failureOf { h.call('deployKustomize', [environment: 'dev', image: "${REPO}:latest"]) } ==
            "deployKustomize: need an image pinned by digest (got '${REPO}:latest')"
        assert h.callsOf('sh').isEmpty() && h.callsOf('withCredentials').isEmpty()
    }

    @Test
    void smokeTestsUsePortsTheRepositorysDeploymentDeclares() {
        // The port names deployKustomize smoke-tests exist on the real Deployment's container.
        String rendered = h.kustomize('k8s/base')
        h.call('deployKustomize', [environment: 'dev', image: IMAGE])
        List<String> ports = h.callsOf('smokeTest')*.args*.getAt(0)*.port
        assert ports == ['admin', 'http']
        ports.each { String p -> assert rendered =~ /(?m)^\s+name: ${p}$/: "no container port named ${p}" }
    }

    @Test
    void failedApplyStopsBeforeRollout() {
        h.onSh('kubectl apply -k', 1)
        assert failureOf { h.call('deployKustomize', [environment: 'dev', image: IMAGE]) } == 'script returned exit code 1'
        assert !h.shScripts().any { it.contains('rollout') }
    }

    @Test
    void failedRolloutPrintsDiagnosticsAndFails() {
        h.onSh('rollout status', 1)
        assert failureOf { h.call('deployKustomize', [environment: 'dev', image: IMAGE]) } ==
            'rolloutStatus: deployment/hello in namespace hello did not complete within 5m'
        assert h.shScripts().any { it.startsWith('kubectl --namespace hello describe deployment/hello;') }
        assert h.callsOf('smokeTest').isEmpty()
    }

    @Test
    void rolloutStatusValidatesInput() {
        assert failureOf { h.call('rolloutStatus', [namespace: 'hello']) } == 'rolloutStatus: namespace and deployment are required'
        assert failureOf { h.call('rolloutStatus', [namespace: 'hello', deployment: 'hello', timeout: 'soon']) } ==
            "rolloutStatus: bad timeout 'soon' (e.g. 300s, 5m)"
    }

    @Test
    void failedSmokeTestFailsTheDeploy() {
        h.onSh('ci-smoke-http.sh', 1)
        assert failureOf { h.call('deployKustomize', [environment: 'dev', image: IMAGE]) } == 'script returned exit code 1'
        assert failureOf { h.call('smokeTest', [namespace: 'hello', deployment: 'hello', path: 'readyz']) } ==
            "smokeTest: path must start with / (got 'readyz')"
        assert failureOf { h.call('smokeTest', [namespace: 'hello', deployment: 'hello', port: 'a;b']) } ==
            "smokeTest: port must be a container port name or number (got 'a;b')"
    }
}
