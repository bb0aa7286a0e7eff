package jenkinslib.test

import hello.ci.BuildInfo
import hello.ci.Environments
import hello.ci.ImageRef
import hello.ci.Shell
import org.junit.Test

class SrcClassesTest {

    public static final String SHA = 'sha256:' + ('0f' * 32)

    @Test
    void commitIdsAreFortyLowerHex() {
        assert BuildInfo.isCommit('0123456789abcdef0123456789abcdef01234567')
        assert !BuildInfo.isCommit('0123456')
        assert !BuildInfo.isCommit('0123456789ABCDEF0123456789ABCDEF01234567')
        assert !BuildInfo.isCommit(null)
    }

    @Test
    void imageTagIsTheCommitAndRejectsAnythingElse() {
        assert BuildInfo.imageTag('0123456789abcdef0123456789abcdef01234567') == '0123456789abcdef0123456789abcdef01234567'
        try {
            BuildInfo.imageTag('main')
            assert false: 'expected IllegalArgumentException'
        } catch (IllegalArgumentException e) {
            assert e.message.contains("'main'")
        }
    }

    @Test
    void releaseTagsAreSemverWithV() {
        ['v1.2.3', 'v0.1.0', 'v10.20.30', 'v1.2.3-rc.1'].each { assert BuildInfo.isReleaseTag(it) }
        ['1.2.3', 'v1.2', 'v01.2.3', 'v1.2.3-', 'release-1', 'v1.2.3 ', null].each { assert !BuildInfo.isReleaseTag(it) }
    }

    @Test
    void releaseBuildsAreMainAndReleaseTags() {
        assert BuildInfo.isRelease('main', null)
        assert !BuildInfo.isRelease('feature/x', null)
        assert !BuildInfo.isRelease('PR-12', null)
        assert BuildInfo.isRelease('v1.4.0', 'v1.4.0')
        assert !BuildInfo.isRelease('nightly', 'nightly')
    }

    @Test
    void parsesReleaseTags() {
        assert BuildInfo.parseReleaseTag('v1.22.3') == [1, 22, 3, null]
        assert BuildInfo.parseReleaseTag('v2.0.0-rc.1') == [2, 0, 0, 'rc.1']
        try {
            BuildInfo.parseReleaseTag('2.0')
            assert false
        } catch (IllegalArgumentException e) {
            assert e.message.contains('not a release tag')
        }
    }

    @Test
    void parsesImageReferences() {
        ImageRef r = ImageRef.parse("registry.example.com:5000/platform/hello:abc@${SHA}")
        assert r.repository == 'registry.example.com:5000/platform/hello'
        assert r.tag == 'abc'
        assert r.digest == SHA
        assert r.pinned
        assert r.registry == 'registry.example.com:5000'
        assert r.byDigest() == "registry.example.com:5000/platform/hello@${SHA}"
        assert r.toString() == "registry.example.com:5000/platform/hello:abc@${SHA}"

        ImageRef port = ImageRef.parse('localhost:5000/hello')
        assert port.tag == null && port.repository == 'localhost:5000/hello' && port.registry == 'localhost:5000'
        assert !port.pinned
        assert ImageRef.parse('library/rust:1.95').registry == 'docker.io'
        assert ImageRef.parse('hello:1').withDigest(SHA).byDigest() == "hello@${SHA}"
    }

    @Test
    void rejectsBadImageReferences() {
        ['', 'Registry/Hello:1', 'hello@sha256:123', 'hello:bad tag', "hello@md5:${'0' * 32}", 'hello:-x'].each { String bad ->
            try {
                ImageRef.parse(bad)
                assert false: "accepted ${bad}"
            } catch (IllegalArgumentException e) {
                assert e.message
            }
        }
        try {
            ImageRef.parse('hello:1').byDigest()
            assert false
        } catch (IllegalStateException e) {
            assert e.message.contains('no digest')
        }
    }

    @Test
    void environmentsAreDevAndProd() {
        assert Environments.names() == ['dev', 'prod']
        assert Environments.lookup('dev').overlay == 'k8s/overlays/dev'
        assert Environments.lookup('prod').kubeconfigCredentialsId == 'kubeconfig-hello-prod'
        assert Environments.lookup('prod').namespace == 'hello'
        assert Environments.lookup('prod').deployment == 'hello'
        try {
            Environments.lookup('staging')
            assert false
        } catch (IllegalArgumentException e) {
            assert e.message == "unknown environment 'staging' (known: dev, prod)"
        }
    }

    @Test
    void shellQuoting() {
        assert Shell.quote('registry.example.com/hello:1') == 'registry.example.com/hello:1'
        assert Shell.quote('a b') == "'a b'"
        assert Shell.quote("it's") == "'it'\"'\"'s'"
        assert Shell.quote('$(rm -rf /)') == "'\$(rm -rf /)'"
        assert ['sh', '-c', 'printf %s ' + Shell.quote("it's \$HOME")].execute().text == "it's \$HOME"
    }

    @Test
    void srcClassesAreSerializableForCps() {
        [BuildInfo, ImageRef, Environments, Shell].each { assert Serializable.isAssignableFrom(it) }
        ImageRef r = ImageRef.parse("hello:1@${SHA}")
        ByteArrayOutputStream bytes = new ByteArrayOutputStream()
        new ObjectOutputStream(bytes).writeObject(r)
        ObjectInputStream input = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray())) {
            @Override
            protected Class<?> resolveClass(ObjectStreamClass desc) {
                ImageRef.classLoader.loadClass(desc.name)
            }
        }
        ImageRef back = input.readObject() as ImageRef
        assert back.toString() == r.toString()
    }

    @Test
    void manifestsReadTheImageOfTheRealRenderedBase() {
        String rendered = new PipelineHarness().kustomize('k8s/base')
        List<String> images = hello.ci.Manifests.deploymentImages(rendered, 'hello')
        assert images.size() == 1
        assert hello.ci.Manifests.workloadImageName(rendered, 'hello') == ImageRef.parse(images[0]).repository
        assert hello.ci.Manifests.deploymentImages(rendered, 'nope') == []
        try {
            hello.ci.Manifests.workloadImageName(rendered, 'nope')
            assert false
        } catch (IllegalArgumentException e) {
            assert e.message == "expected one image in Deployment 'nope', found none (pass name: explicitly)"
        }
        String two = rendered.replaceFirst(/(?m)^(\s+)image: (\S+)$/, '$1image: $2\n$1name: x\n      - image: other.example.com/sidecar:1')
        try {
            hello.ci.Manifests.workloadImageName(two, 'hello')
            assert false
        } catch (IllegalArgumentException e) {
            assert e.message.contains('other.example.com/sidecar')
        }
    }

    @Test
    void pinnedLayersStayInsideTheWorkspace() {
        assert hello.ci.Manifests.pinnedDir('k8s/overlays/prod/') == 'build/pinned/prod'
        ['/etc', '../x', 'k8s/../..', '', null].each { String bad ->
            try {
                hello.ci.Manifests.pinnedDir(bad)
                assert false: bad
            } catch (IllegalArgumentException e) {
                assert e.message.startsWith('overlay must be a relative path')
            }
        }
    }
}
