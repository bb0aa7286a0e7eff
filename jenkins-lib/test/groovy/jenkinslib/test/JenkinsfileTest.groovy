package jenkinslib.test

import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
import org.junit.Test

/** The repo's Jenkinsfile: parses, compiles, and runs through the declarative stub. */
class JenkinsfileTest extends LibTestCase {

    public static final File JENKINSFILE = new File(PipelineHarness.LIB_ROOT.parentFile, 'Jenkinsfile')
    public static final List<String> ALL_STAGES = ['Build and deploy to dev', 'Checkout', 'Test', 'Build image', 'Scan',
                                            'SBOM and signature', 'Validate manifests', 'Deploy to dev', 'Promote to prod']

    private DeclarativeStub stub(String branch, String tag = null, String previous = 'SUCCESS') {
        h.env.BRANCH_NAME = branch
        h.env.TAG_NAME = tag
        DeclarativeStub s = new DeclarativeStub(h)
        s.previousResult = previous
        s.load(JENKINSFILE)
        s
    }

    @Test
    void parsesToConversionAndCompiles() {
        CompilationUnit unit = new CompilationUnit()
        unit.addSource(JENKINSFILE)
        unit.compile(Phases.CONVERSION)
        // Full compile: needs the @Library stand-in, as TOOLS.md notes.
        new GroovyShell(new PipelineHarness().shell.classLoader, new Binding(), PipelineHarness.CONFIG)
            .parse(JENKINSFILE.text, 'Jenkinsfile')
    }

    @Test
    void loadsTheLibraryAtAFixedTag() {
        assert JENKINSFILE.text =~ /(?m)^@Library\('jenkins-lib@v\d+\.\d+\.\d+'\) _$/
    }

    @Test
    void declaresTheRequiredOptions() {
        DeclarativeStub s = stub('feature/x')
        s.run()
        List<Map> options = h.callsOf('options')[0].args
        assert options*.name == ['timeout', 'timestamps', 'buildDiscarder', 'disableConcurrentBuilds', 'skipDefaultCheckout']
        assert options[0].args == [[time: 3, unit: 'HOURS']]
        assert options[2].args == [[logRotator: [numToKeepStr: '50', artifactNumToKeepStr: '10']]]
    }

    @Test
    void mainBranchRunsEveryStageAndPromotesTheSameDigest() {
        DeclarativeStub s = stub('main')
        assert s.run() == 'SUCCESS'
        assert s.stageLog*.name == ALL_STAGES
        assert s.stagesWith('SUCCESS') == ALL_STAGES
        // Stage order as executed, through the library steps.
        List<String> steps = h.calls*.step.findAll { it in ['checkoutSource', 'runTests', 'buildImage', 'scanImage',
            'generateSbom', 'signImage', 'validateManifests', 'deployKustomize', 'input', 'notifySlack'] }
        assert steps == ['checkoutSource', 'runTests', 'buildImage', 'scanImage', 'generateSbom', 'signImage',
                         'validateManifests', 'deployKustomize', 'input', 'checkoutSource', 'deployKustomize', 'notifySlack']
        assert h.env.IMAGE_REF == IMAGE
        List<Map> deploys = h.callsOf('deployKustomize')*.args*.getAt(0)
        assert deploys == [[environment: 'dev', image: IMAGE], [environment: 'prod', image: IMAGE]]
        assert h.shCall('kubectl apply -k k8s/overlays/dev').container == 'kubectl'
        assert h.shCall('kubectl apply -k k8s/overlays/prod').credentials == ['kubeconfig-hello-prod']
        // Tag = commit, built with the in-image builder.
        assert h.shCall('buildah bud').args[0].script.contains("--tag ${REPO}:${PipelineHarness.COMMIT}")
        assert h.shCall('buildah bud').args[0].script.contains('--build-arg BINARY_SOURCE=builder')
        assert h.shCall('./scripts/test-all.sh').container == 'rust'
        Map input = h.callsOf('input')[0].args[0]
        assert input == [message: "Deploy ${IMAGE} (running in dev) to prod?", ok: 'Promote', submitter: 'hello-release']
        // Two pods: the build pod, then (after approval) the small deploy pod.
        assert h.callsOf('podTemplate')*.args*.getAt(0)*.defaultContainer == ['rust', 'kubectl']
        assert h.calls.findIndexOf { it.step == 'input' } < h.calls.findLastIndexOf { it.step == 'podTemplate' }
        Map slack = h.callsOf('slackSend')[0].args[0]
        assert slack.color == 'good' && slack.message.contains("succeeded: released ${IMAGE}")
        assert s.postRan == ['success']
    }

    @Test
    void failingTestsSkipEverythingAfterAndNotify() {
        h.onSh('scripts/test-all.sh', 2)
        DeclarativeStub s = stub('main')
        assert s.run() == 'FAILURE'
        assert s.stagesWith('SUCCESS') == ['Checkout']
        assert s.stage('Test').status == 'FAILED' && s.stage('Test').error == 'script returned exit code 2'
        assert s.stagesWith('SKIPPED_FAILURE') == ['Build image', 'Scan', 'SBOM and signature', 'Validate manifests',
                                                    'Deploy to dev', 'Promote to prod']
        assert !h.shScripts().any { it =~ /buildah|trivy|cosign|kubectl/ }
        assert h.callsOf('input').isEmpty()
        assert s.postRan == ['failure']
        Map slack = h.callsOf('slackSend')*.args*.getAt(0)[0]
        assert slack.color == 'danger' && slack.message.startsWith('hello/main #42 failed')
        assert h.currentBuild.result == 'FAILURE'
    }

    @Test
    void vulnerableImageStopsBeforeSigningAndDeploying() {
        h.onSh('trivy image .*--exit-code 3', 3)
        DeclarativeStub s = stub('main')
        assert s.run() == 'FAILURE'
        assert s.stage('Scan').error.startsWith('scanImage: HIGH,CRITICAL vulnerabilities in')
        assert h.callsOf('signImage').isEmpty() && h.callsOf('deployKustomize').isEmpty()
    }

    @Test
    void featureBranchBuildsAndScansButNeverDeploysOrAsks() {
        DeclarativeStub s = stub('feature/x')
        assert s.run() == 'SUCCESS'
        assert s.stagesWith('SKIPPED_WHEN') == ['Deploy to dev', 'Promote to prod']
        assert h.callsOf('input').isEmpty() && h.callsOf('deployKustomize').isEmpty()
        assert h.callsOf('podTemplate').size() == 1
        assert h.callsOf('validateManifests').size() == 1
        // Success of a non-release build after a success: nobody is paged.
        assert s.postRan == ['success'] && h.callsOf('slackSend').isEmpty()
    }

    @Test
    void recoveryIsAnnounced() {
        DeclarativeStub s = stub('feature/x', null, 'FAILURE')
        assert s.run() == 'SUCCESS'
        assert s.postRan == ['fixed', 'success']
        assert h.callsOf('slackSend').size() == 1
        Map slack = h.callsOf('slackSend')[0].args[0]
        assert slack.color == 'good' && slack.message.contains('is back to normal')
    }

    @Test
    void releaseTagIsPromotedAndNonReleaseTagIsNot() {
        DeclarativeStub release = stub('v1.2.0', 'v1.2.0')
        assert release.run() == 'SUCCESS'
        assert release.stage('Promote to prod').status == 'SUCCESS'
        assert h.shCall('buildah bud').args[0].script.contains('--build-arg VERSION=v1.2.0')

        newHarness()
        DeclarativeStub other = stub('nightly', 'nightly')
        assert other.run() == 'SUCCESS'
        assert other.stagesWith('SKIPPED_WHEN') == ['Deploy to dev', 'Promote to prod']
    }

    @Test
    void rejectedPromotionAbortsWithoutTouchingProd() {
        h.inputAnswer = 'alice'
        DeclarativeStub s = stub('main')
        assert s.run() == 'ABORTED'
        assert s.stage('Deploy to dev').status == 'SUCCESS'
        assert s.stage('Promote to prod').status == 'ABORTED'
        assert !h.shScripts().any { it.contains('overlays/prod') && it.contains('apply') }
        assert h.callsOf('podTemplate').size() == 1
        assert s.postRan.isEmpty()
    }

    @Test
    void stubRejectsAContainerThatThePodDoesNotHave() {
        // The stub is strict: a step in a container missing from the pod YAML fails like Jenkins would.
        h.binding.setVariable('runTests') { Object[] a ->
            (h.binding.getVariable('container') as Closure).call('docker') { }
        }
        DeclarativeStub s = stub('main')
        assert s.run() == 'FAILURE'
        assert s.stage('Test').error.startsWith("container 'docker' is not in the agent pod")
    }

    @Test
    void stepsNeedAnAgentInTheStub() {
        h.requireNode = true
        assert failureOf { h.call('runTests') }.contains('hudson.FilePath is missing')
    }
}
