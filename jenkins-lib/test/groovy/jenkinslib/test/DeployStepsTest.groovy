package jenkinslib.test

import org.junit.Test

/** pinImage, validateManifests, deployKustomize, rolloutStatus, smokeTest. */
class DeployStepsTest extends LibTestCase {

    @Test
    void pinImageSetsTheDigestInTheOverlay() {
        h.call('pinImage', [overlay: 'k8s/overlays/dev', image: IMAGE])
        Map call = h.callsOf('sh')[0]
        assert call.args[0].script == "kustomize edit set image hello=${IMAGE}"
        assert call.dir == 'k8s/overlays/dev'
        assert failureOf { h.call('pinImage', [overlay: 'k8s/overlays/dev', image: "${REPO}:1"]) } ==
            "pinImage: need an image pinned by digest (got '${REPO}:1')"
        assert failureOf { h.call('pinImage', [image: IMAGE]) } == 'pinImage: missing overlay directory'
    }

    @Test
    void validateRendersEveryOverlayAndDryRunsDev() {
        h.call('validateManifests', [image: IMAGE, serverDryRun: ['dev']])
        assert h.shScripts() == [
            'mkdir -p build/manifests',
            "kustomize edit set image hello=${IMAGE}",
            'kubectl kustomize k8s/overlays/dev > build/manifests/dev.yaml',
            'kubectl apply --dry-run=server -f build/manifests/dev.yaml',
            "kustomize edit set image hello=${IMAGE}",
            'kubectl kustomize k8s/overlays/prod > build/manifests/prod.yaml',
        ]
        assert h.shCall('--dry-run=server').credentials == ['kubeconfig-hello-dev']
        assert h.callsOf('sh').every { it.container == 'kubectl' }
        assert h.callsOf('archiveArtifacts')[0].args[0] == [artifacts: 'build/manifests/*.yaml']
    }

    @Test
    void validateFailsWhenTheOverlayDoesNotUseTheDigest() {
        // The kustomization calls the image something else: `set image hello=...` changes nothing.
        h.kustomizeImageName = 'web'
        assert failureOf { h.call('validateManifests', [image: IMAGE]) } ==
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
            "kustomize edit set image hello=${IMAGE}",
            'kubectl apply --dry-run=server -k k8s/overlays/prod',
            'kubectl apply -k k8s/overlays/prod',
            'kubectl --namespace hello rollout status deployment/hello --timeout=5m',
            'sh .ci-smoke-http.sh hello hello /readyz 30',
        ]
        assert h.callsOf('sh').every { it.container == 'kubectl' }
        assert h.callsOf('sh')*.credentials == [[]] + [['kubeconfig-hello-prod']] * 4
        assert h.callsOf('withCredentials')[0].args[0] ==
            [[kind: 'file', credentialsId: 'kubeconfig-hello-prod', variable: 'KUBECONFIG']]
        // The smoke script shipped in resources/ is what gets run.
        assert h.files['.ci-smoke-http.sh'] == new File(PipelineHarness.LIB_ROOT, 'resources/hello/ci/smoke-http.sh').text
        assert h.callsOf('rolloutStatus').size() == 1 && h.callsOf('smokeTest').size() == 1
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
    }
}
