package jenkinslib.test

import org.junit.Test

/** buildImage, scanImage, generateSbom, signImage. */
class ImageStepsTest extends LibTestCase {

    public static final String TAG = PipelineHarness.COMMIT

    @Test
    void buildImageLogsInBuildsPushesAndReturnsTheDigest() {
        String ref = h.call('buildImage', [repository: REPO, tag: TAG,
                                           buildArgs: [BINARY_SOURCE: 'builder', SOURCE: 'https://git.example.com/a b.git']])
        assert ref == IMAGE
        assert h.shScripts() == [
            'printf \'%s\' "$REGISTRY_PASSWORD" | buildah login --username "$REGISTRY_USER" --password-stdin registry.example.com',
            "buildah bud --format docker --file Dockerfile --tag ${REPO}:${TAG} --build-arg BINARY_SOURCE=builder " +
                "--build-arg 'SOURCE=https://git.example.com/a b.git' .",
            "buildah push --digestfile .image-digest ${REPO}:${TAG} docker://${REPO}:${TAG}",
        ]
        assert h.callsOf('sh').every { it.container == 'buildah' }
        // Only the login sees the registry credential.
        assert h.callsOf('sh')*.credentials == [['registry-hello'], [], []]
        Map creds = h.callsOf('withCredentials')[0]
        assert creds.args[0] == [[kind: 'usernamePassword', credentialsId: 'registry-hello',
                                  usernameVariable: 'REGISTRY_USER', passwordVariable: 'REGISTRY_PASSWORD']]
    }

    @Test
    void buildImageWithoutATagIsAClearError() {
        assert failureOf { h.call('buildImage', [repository: REPO]) } ==
            'buildImage: missing image tag (pass tag: the commit id)'
        assert failureOf { h.call('buildImage', [repository: REPO, tag: 'bad tag']) } == "buildImage: bad image tag 'bad tag'"
        assert failureOf { h.call('buildImage', [repository: 'Bad/Repo', tag: TAG]) }
            .startsWith("buildImage: missing or bad repository 'Bad/Repo'")
        assert h.callsOf('sh').isEmpty()
    }

    @Test
    void buildImagePushesToTheImageNameTheManifestsUse() {
        assert h.call('buildImage', [tag: TAG]) == IMAGE
        assert h.callsOf('workloadImage').size() == 1
        assert h.shCall('buildah bud').args[0].script.contains("--tag ${REPO}:${TAG} ")
    }

    @Test
    void buildImageFailsWhenThePushGivesNoDigest() {
        h.onSh('buildah push', 0, '') { m -> h.files['.image-digest'] = 'oops\n' }
        assert failureOf { h.call('buildImage', [repository: REPO, tag: TAG]) } ==
            "buildImage: push of ${REPO}:${TAG} gave no sha256 digest (got 'oops')"
    }

    @Test
    void buildFailureStopsBeforePush() {
        h.onSh('buildah bud', 125)
        assert failureOf { h.call('buildImage', [repository: REPO, tag: TAG]) } == 'script returned exit code 125'
        assert !h.shScripts().any { it.contains('buildah push') }
    }

    @Test
    void scanFailsOnHighAndCritical() {
        h.call('scanImage', [image: IMAGE])
        Map scan = h.callsOf('sh')[0]
        assert scan.args[0].script == "trivy image --no-progress --cache-dir .trivy-cache --scanners vuln " +
            "--severity HIGH,CRITICAL --exit-code 3 ${IMAGE}"
        assert scan.args[0].returnStatus
        assert scan.container == 'trivy'
        assert scan.credentials == ['registry-hello']

        h.onSh('trivy image', 3)
        assert failureOf { h.call('scanImage', [image: IMAGE]) } ==
            "scanImage: HIGH,CRITICAL vulnerabilities in ${IMAGE} (see the table above)"
        h.onSh('trivy image', 1)
        assert failureOf { h.call('scanImage', [image: IMAGE]) } == 'scanImage: trivy failed with exit code 1'
    }

    @Test
    void scanRefusesTagsAndBadInput() {
        assert failureOf { h.call('scanImage', [image: "${REPO}:${TAG}"]) } ==
            "scanImage: ${REPO}:${TAG} is not pinned by digest; scan exactly what will be deployed"
        assert failureOf { h.call('scanImage', [:]) } == 'scanImage: missing image (pass image: REPOSITORY@sha256:...)'
        assert failureOf { h.call('scanImage', [image: IMAGE, severity: 'HIGH,SEVERE']) }.startsWith("scanImage: bad severity 'SEVERE'")
        assert failureOf { h.call('scanImage', [image: 'Bad/Ref']) } == "scanImage: bad repository in 'Bad/Ref'"
        assert h.callsOf('sh').isEmpty()
    }

    @Test
    void sbomIsCycloneDxAndArchived() {
        assert h.call('generateSbom', [image: IMAGE]) == 'sbom.cdx.json'
        assert h.shScripts() == ["trivy image --no-progress --cache-dir .trivy-cache --format cyclonedx " +
                                 "--output sbom.cdx.json ${IMAGE}"]
        assert h.callsOf('archiveArtifacts')[0].args[0] == [artifacts: 'sbom.cdx.json', fingerprint: true]
        assert failureOf { h.call('generateSbom', [image: "${REPO}:1"]) } ==
            "generateSbom: need an image pinned by digest (got '${REPO}:1')"
    }

    @Test
    void signSignsTheDigestAndAttestsTheSbom() {
        h.call('signImage', [image: IMAGE, sbom: 'sbom.cdx.json'])
        assert h.shScripts() == [
            'printf \'%s\' "$REGISTRY_PASSWORD" | cosign login --username "$REGISTRY_USER" --password-stdin registry.example.com',
            "cosign sign --yes --key \"\$COSIGN_KEY\" ${IMAGE}",
            "cosign attest --yes --key \"\$COSIGN_KEY\" --type cyclonedx --predicate sbom.cdx.json ${IMAGE}",
        ]
        assert h.callsOf('sh').every { it.container == 'cosign' && it.credentials == ['cosign-key', 'cosign-password', 'registry-hello'] }
        List bindings = h.callsOf('withCredentials')[0].args[0]
        assert bindings*.kind == ['file', 'string', 'usernamePassword']
        assert bindings[0].variable == 'COSIGN_KEY' && bindings[1].variable == 'COSIGN_PASSWORD'
    }

    @Test
    void signWithoutSbomOnlySignsAndRefusesTags() {
        h.call('signImage', [image: IMAGE])
        assert h.shScripts().size() == 2 && !h.shScripts().any { it.contains('attest') }
        assert failureOf { h.call('signImage', [image: "${REPO}:${TAG}"]) } ==
            "signImage: need an image pinned by digest (got '${REPO}:${TAG}')"
        assert failureOf { h.call('signImage', [image: 'x@sha256:1']) }.startsWith('signImage: bad digest')
    }
}
