package jenkinslib.test

import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases
import org.junit.Test

/** The repo's Jenkinsfile: parses, compiles, and runs through the declarative stub. */
class JenkinsfileTest extends LibTestCase {

    public static final File JENKINSFILE = new File(PipelineHarness.LIB_ROOT.parentFile, 'Jenkinsfile')
    public static final List<String> ALL_STAGES = ['Build and deploy to dev', 'Test', 'Build image', 'Verify and deploy to dev',
                                            'Scan', 'SBOM and signature', 'Validate manifests', 'Deploy to dev', 'Promote to prod']
    public static final File JCASC = new File(PipelineHarness.LIB_ROOT, 'jcasc/jenkins-lib.yaml')
    public static final File TEST_ALL = new File(PipelineHarness.REPO_ROOT, 'scripts/test-all.sh')

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

    /** [name, version] of the Jenkinsfile's one @Library line. */
    static List<String> libraryReference(String jenkinsfile) {
        List refs = (jenkinsfile =~ /(?m)^@Library\('([^'@]+)@([^']+)'\) _$/).collect { [it[1], it[2]] }
        assert refs.size() == 1: 'the Jenkinsfile must load exactly one library at a named version'
        refs[0]
    }

    static String git(String... args) {
        Process p = (['git', '-C', PipelineHarness.REPO_ROOT.path] + (args as List)).execute()
        StringBuilder out = new StringBuilder()
        p.waitForProcessOutput(out, new StringBuilder())
        p.exitValue() == 0 ? out.toString().trim() : null
    }

    @Test
    void libraryReferenceJcascAndRepositoryAgree() {
        List<String> ref = libraryReference(JENKINSFILE.text)
        String name = ref[0]
        String version = ref[1]
        Map lib = JcascYaml.library(JCASC, name)
        assert lib: "${JCASC.name} registers no library '${name}'"
        // The library is this repository's jenkins-lib/ folder, loaded at a ref that exists.
        assert lib.retriever.modernSCM.libraryPath == PipelineHarness.LIB_ROOT.name + '/'
        assert version == lib.defaultVersion || lib.allowVersionOverride: "version ${version} needs allowVersionOverride"
        assert git('rev-parse', '--verify', '--quiet', "refs/heads/${version}") ||
               git('rev-parse', '--verify', '--quiet', "refs/tags/${version}"):
            "@Library names ${version}, which is no branch or tag of this repository"
        assert git('ls-tree', '--name-only', version, "${PipelineHarness.LIB_ROOT.name}/vars/")?.contains('buildImage.groovy'):
            "${version} has no ${PipelineHarness.LIB_ROOT.name}/vars/"
        // A branch is what the README documents for a library living beside its Jenkinsfile.
        assert git('rev-parse', '--verify', '--quiet', "refs/heads/${version}")
        assert lib.defaultVersion == version
    }

    @Test
    void aTagThatDoesNotExistIsCaught() {
        // The check above, on the old reference: no tag v1.0.0 was ever created.
        String old = "@Library('jenkins-lib@v1.0.0') _\n"
        assert libraryReference(old) == ['jenkins-lib', 'v1.0.0']
        assert !git('rev-parse', '--verify', '--quiet', 'refs/tags/v1.0.0')
    }

    @Test
    void theTestStageRunsOrSkipsEverySuiteOfTestAllAndRunsNoneThatNeedsAContainerEngine() {
        stub('feature/x').run()
        Map args = h.callsOf('runTests')[0].args[0]
        String block = (TEST_ALL.text =~ /(?s)\nsuites=\((.*?)\n\)/)[0][1]
        List<String> all = block.readLines()*.replaceAll(/#.*/, '')*.trim().findAll()
        assert all.size() >= 6
        assert (args.suites + (args.skipped.keySet() as List)).sort(false) == all.sort(false)
        List<String> run = args.suites as List<String>
        assert run == all.findAll { String suite -> suite in run }: "suites run in the order test-all.sh runs them: ${run} vs ${all}"
        args.suites.each { String suite ->
            String text = new File(PipelineHarness.REPO_ROOT, suite).text
            assert !(text =~ /\b(hello_)?(podman|buildah)\b/): "${suite} needs a container engine but runs in the agent pod"
        }
        args.skipped.each { String suite, String reason -> assert reason.length() > 20 }
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
        assert steps == ['checkoutSource', 'runTests', 'checkoutSource', 'buildImage', 'checkoutSource', 'scanImage',
                         'generateSbom', 'signImage', 'validateManifests', 'deployKustomize', 'input', 'checkoutSource',
                         'deployKustomize', 'notifySlack']
        assert h.env.IMAGE_REF == IMAGE
        List<Map> deploys = h.callsOf('deployKustomize')*.args*.getAt(0)
        assert deploys == [[environment: 'dev', image: IMAGE], [environment: 'prod', image: IMAGE]]
        assert h.shCall('kubectl apply -k build/pinned/dev').container == 'kubectl'
        assert h.shCall('kubectl apply -k build/pinned/prod').credentials == ['kubeconfig-hello-prod']
        // Tag = commit, built with the in-image builder.
        assert h.shCall('buildah bud').args[0].script.contains("--tag ${REPO}:${PipelineHarness.COMMIT}")
        assert h.shCall('buildah bud').args[0].script.contains('--build-arg BINARY_SOURCE=builder')
        assert h.shCall('buildah bud').args[0].script.contains("--build-arg REVISION=${PipelineHarness.COMMIT}")
        assert h.shCall('buildah bud').args[0].script.contains("--build-arg CREATED=${PipelineHarness.COMMIT_DATE}")
        assert h.shCall('./scripts/test-rust.sh').container == 'rust'
        assert h.shCall('buildah bud').container == 'buildah'
        assert h.shCall('trivy image').container == 'trivy'
        Map input = h.callsOf('input')[0].args[0]
        assert input == [message: "Deploy ${IMAGE} (running in dev) to prod?", ok: 'Promote', submitter: 'hello-release']
        // One pod per privilege level, then (after approval) the small deploy pod.
        assert h.callsOf('podTemplate')*.args*.getAt(0)*.defaultContainer == ['rust', 'buildah', 'kubectl', 'kubectl']
        assert h.calls.findIndexOf { it.step == 'input' } < h.calls.findLastIndexOf { it.step == 'podTemplate' }
        Map slack = h.callsOf('slackSend')[0].args[0]
        assert slack.color == 'good' && slack.message.contains("succeeded: released ${IMAGE}")
        assert s.postRan == ['success']
    }

    @Test
    void failingTestsSkipEverythingAfterAndNotify() {
        h.onSh('scripts/test-rust.sh', 2)
        DeclarativeStub s = stub('main')
        assert s.run() == 'FAILURE'
        assert s.stagesWith('SUCCESS') == []
        assert s.stage('Test').status == 'FAILED' && s.stage('Test').error == 'script returned exit code 2'
        assert s.stagesWith('SKIPPED_FAILURE') == ['Build image', 'Verify and deploy to dev', 'Scan', 'SBOM and signature',
                                                    'Validate manifests', 'Deploy to dev', 'Promote to prod']
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
        assert h.callsOf('podTemplate').size() == 3
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
        assert !h.shScripts().any { it.contains('pinned/prod') && it.contains('apply') }
        assert h.callsOf('podTemplate').size() == 3
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
        assert failureOf { h.call('runTests', [suites: ['scripts/test-rust.sh']]) }.contains('hudson.FilePath is missing')
    }
}
