package jenkinslib.test

import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.customizers.ImportCustomizer

/**
 * Pipeline steps stubbed the JenkinsPipelineUnit way: every library var and the
 * Jenkinsfile run as plain Groovy scripts whose step calls land here, get
 * recorded with their context (container, credentials) and answer like Jenkins.
 */
class PipelineHarness {

    public static final File LIB_ROOT = new File(System.getProperty('jlib.root', '.')).canonicalFile
    public static final String COMMIT = '0123456789abcdef0123456789abcdef01234567'
    public static final String DIGEST = 'sha256:' + ('ab' * 32)
    public static final String SECRET_MARK = 'SECRET('
    public static final String COMMIT_DATE = '2026-01-02T03:04:05Z'
    /** The repository this library lives in: its real k8s/ is what `kubectl kustomize` renders. */
    public static final File REPO_ROOT = LIB_ROOT.parentFile

    final List<Map> calls = []
    final EnvStub env = new EnvStub()
    final BuildStub currentBuild = new BuildStub()
    final Binding binding = new Binding()
    /** Workspace files: written by writeFile and simulated commands, read by readFile. */
    final Map<String, String> files = [:]
    /** Renders run here: k8s/ links to the repository's real one, build/ holds files the steps wrote. */
    private File renderRoot
    /**
     * Rehearsal mode (see Rehearsal.groovy): when set, `sh` runs for real through
     * this closure (script, arg map or string, working directory) and files live
     * in `workspace` on disk.
     */
    Closure executor
    File workspace
    /** Rehearsal mode: what a credential binding puts into a variable (stand-in values, never secrets). */
    Closure<String> credentialValue
    /** Answer to `input`: approve, or anything else to reject. */
    String inputAnswer = 'approve'
    /** Container names of the current agent pod; null outside the declarative stub. */
    List<String> podContainers
    boolean requireNode = false
    int nodeDepth = 0
    final GroovyShell shell

    private final List<Map> shRules = []
    private final List<String> containerStack = []
    private final List<String> credentialStack = []
    private final List<String> dirStack = []

    // Compiled once per JVM: each var's class, and the loader that sees src/.
    public static final CompilerConfiguration CONFIG = compilerConfig()
    private static final GroovyClassLoader LOADER = libraryLoader()
    private static final Map<String, Class> VAR_CLASSES = [:]

    private static CompilerConfiguration compilerConfig() {
        CompilerConfiguration config = new CompilerConfiguration()
        ImportCustomizer imports = new ImportCustomizer()
        // Jenkins imports the @Library annotation for every Jenkinsfile.
        imports.addImports('org.jenkinsci.plugins.workflow.libs.Library')
        config.addCompilationCustomizers(imports)
        config
    }

    private static GroovyClassLoader libraryLoader() {
        GroovyClassLoader loader = new GroovyClassLoader(PipelineHarness.classLoader, CONFIG)
        loader.addClasspath(new File(LIB_ROOT, 'src').path)
        loader
    }

    PipelineHarness() {
        shell = new GroovyShell(LOADER, binding, CONFIG)
        env.JOB_NAME = 'hello/main'
        env.BUILD_NUMBER = '42'
        env.BUILD_URL = 'https://jenkins.example.com/job/hello/job/main/42/'
        env.BRANCH_NAME = 'main'
        binding.setVariable('env', env)
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('scm', [type: 'stub-scm'])
        binding.setVariable('params', [:])
        registerSteps()
        registerDefaultCommands()
        loadVars()
    }

    static List<String> varNames() {
        new File(LIB_ROOT, 'vars').listFiles().findAll { it.name.endsWith('.groovy') }
            .collect { it.name - '.groovy' }.sort()
    }

    // ---- recording and queries ------------------------------------------------

    String currentContainer() {
        containerStack ? containerStack[-1] : null
    }

    private void record(String step, List args) {
        calls << [step: step, args: args, container: currentContainer(),
                  credentials: new ArrayList<String>(credentialStack), dir: dirStack ? dirStack[-1] : null]
    }

    List<Map> callsOf(String step) {
        calls.findAll { it.step == step }
    }

    /** Scripts of every `sh` call, in order. */
    List<String> shScripts() {
        callsOf('sh').collect { shScript(it.args[0]) }
    }

    Map shCall(String fragment) {
        callsOf('sh').find { shScript(it.args[0]).contains(fragment) }
    }

    /** Fails when any recorded call carries a secret's value (Groovy interpolation of a credential). */
    void assertNoSecretLeak() {
        List<Map> leaks = calls.findAll { it.step != 'withCredentials' && it.args.toString().contains(SECRET_MARK) }
        assert leaks.isEmpty(): "secret values interpolated into steps: ${leaks}"
    }

    // ---- configuring commands -------------------------------------------------

    /** The first rule (latest registered first) whose regex is found in the script decides the result. */
    void onSh(String regex, int exit, String stdout = '', Closure action = null) {
        shRules.add(0, [regex: regex, exit: exit, stdout: stdout, action: action])
    }

    private void registerDefaultCommands() {
        onSh(/buildah push --digestfile (\S+)/, 0, '') { java.util.regex.Matcher m ->
            files[m.group(1)] = DIGEST + '\n'
        }
        // The real kubectl renders the repository's real k8s/ (plus what the steps wrote under build/).
        onSh(/kubectl kustomize (\S+) > (\S+)/, 0, '') { java.util.regex.Matcher m ->
            files[m.group(2)] = kustomize(m.group(1))
        }
        onSh(/git log -1 --date=format-local/, 0, COMMIT_DATE + '\n')
    }

    /** `kubectl kustomize PATH` on the real repository files; a failure is a failing `sh`. */
    String kustomize(String path) {
        if (renderRoot == null) {
            renderRoot = File.createTempDir('jlib-render', '')
            renderRoot.deleteOnExit()
            java.nio.file.Files.createSymbolicLink(new File(renderRoot, 'k8s').toPath(), new File(REPO_ROOT, 'k8s').toPath())
        }
        files.findAll { k, v -> k.startsWith('build/') }.each { String k, String v ->
            File f = new File(renderRoot, k)
            f.parentFile.mkdirs()
            f.text = v
        }
        Process p = ['kubectl', 'kustomize', new File(renderRoot, path).path].execute()
        StringBuilder out = new StringBuilder()
        StringBuilder err = new StringBuilder()
        p.waitForProcessOutput(out, err)
        if (p.exitValue() != 0) {
            throw new StepFailure("kubectl kustomize ${path}: ${err}")
        }
        out.toString()
    }

    /** The image name the repository's base Deployment uses (what the steps must pin). */
    static String repositoryImageName() {
        PipelineHarness h = new PipelineHarness()
        // Through the library's loader: the rehearsal also runs libraries without this class.
        LOADER.loadClass('hello.ci.Manifests').workloadImageName(h.kustomize('k8s/base'), 'hello')
    }

    private static String shScript(Object arg) {
        arg instanceof Map ? arg.script as String : arg as String
    }

    private File cwd() {
        dirStack ? new File(workspace, dirStack[-1]) : workspace
    }

    private Object runSh(Object arg) {
        needNode('sh')
        String script = shScript(arg)
        assert script: 'sh called without a script'
        if (executor != null) {
            return executor.call(script, arg, cwd())
        }
        Map rule = shRules.find { script =~ it.regex }
        int exit = rule ? rule.exit as int : 0
        if (rule?.action) {
            java.util.regex.Matcher m = script =~ rule.regex
            m.find()
            rule.action.call(m)
        }
        boolean returnStatus = arg instanceof Map && arg.returnStatus
        boolean returnStdout = arg instanceof Map && arg.returnStdout
        if (returnStatus) {
            return exit
        }
        if (exit != 0) {
            throw new StepFailure("script returned exit code ${exit}")
        }
        returnStdout ? (rule?.stdout ?: '') : null
    }

    private void needNode(String step) {
        if (requireNode && nodeDepth == 0) {
            throw new StepFailure("${step}: Required context class hudson.FilePath is missing (no agent)")
        }
    }

    // ---- steps ----------------------------------------------------------------

    private void step(String name, Closure impl) {
        binding.setVariable(name) { Object[] a ->
            record(name, a as List)
            impl.call(*a)
        }
    }

    @SuppressWarnings('MethodSize')
    private void registerSteps() {
        step('sh') { arg -> runSh(arg) }
        step('echo') { String msg -> null }
        step('error') { String msg -> throw new StepFailure(msg) }
        step('usernamePassword') { Map m -> [kind: 'usernamePassword'] + m }
        step('file') { Map m -> [kind: 'file'] + m }
        step('string') { Map m -> [kind: 'string'] + m }
        step('withCredentials') { List bindings, Closure body ->
            Map<String, String> saved = env.snapshot()
            int depth = credentialStack.size()
            for (Map b in bindings) {
                assert b.credentialsId: "credential binding without credentialsId: ${b}"
                credentialStack << (b.credentialsId as String)
                for (String v in [b.variable, b.usernameVariable, b.passwordVariable].findAll()) {
                    env.setProperty(v, credentialValue != null ? credentialValue.call(b, v) :
                        "${SECRET_MARK}${b.credentialsId}:${v})")
                }
            }
            try {
                body.call()
            } finally {
                env.restore(saved)
                while (credentialStack.size() > depth) {
                    credentialStack.remove(credentialStack.size() - 1)
                }
            }
        }
        step('withEnv') { List<String> pairs, Closure body ->
            Map<String, String> saved = env.snapshot()
            pairs.each { String p -> env.setProperty(p.substring(0, p.indexOf('=')), p.substring(p.indexOf('=') + 1)) }
            try {
                body.call()
            } finally {
                env.restore(saved)
            }
        }
        step('container') { String name, Closure body ->
            if (podContainers != null && !(name in podContainers)) {
                throw new StepFailure("container '${name}' is not in the agent pod (has ${podContainers})")
            }
            containerStack << name
            try {
                body.call()
            } finally {
                containerStack.remove(containerStack.size() - 1)
            }
        }
        step('dir') { String path, Closure body ->
            dirStack << path
            try {
                body.call()
            } finally {
                dirStack.remove(dirStack.size() - 1)
            }
        }
        step('timeout') { Map m, Closure body -> body.call() }
        step('script') { Closure body -> body.call() }
        step('libraryResource') { String path ->
            File f = new File(LIB_ROOT, "resources/${path}")
            if (!f.file) {
                throw new StepFailure("No such library resource ${path} could be found.")
            }
            f.text
        }
        step('writeFile') { Map m ->
            needNode('writeFile')
            if (workspace != null) {
                File f = new File(cwd(), m.file as String)
                f.parentFile.mkdirs()
                f.text = m.text as String
            }
            files[m.file as String] = m.text as String
        }
        step('readFile') { arg ->
            needNode('readFile')
            String path = arg instanceof Map ? arg.file : arg
            if (workspace != null) {
                File f = new File(cwd(), path)
                if (!f.file) {
                    throw new StepFailure("readFile: no such file ${path}")
                }
                return f.text
            }
            if (!files.containsKey(path)) {
                throw new StepFailure("readFile: no such file ${path}")
            }
            files[path]
        }
        step('archiveArtifacts') { arg ->
            needNode('archiveArtifacts')
            if (workspace != null) {
                // Jenkins fails the build when the pattern matches nothing.
                String pattern = arg instanceof Map ? arg.artifacts : arg
                java.nio.file.PathMatcher m = java.nio.file.FileSystems.default.getPathMatcher("glob:${pattern}")
                List<String> found = []
                cwd().eachFileRecurse { File f ->
                    String rel = cwd().toPath().relativize(f.toPath())
                    if (f.file && m.matches(java.nio.file.Paths.get(rel))) {
                        found << rel
                    }
                }
                if (!found) {
                    throw new StepFailure("archiveArtifacts: no artifacts found that match '${pattern}'")
                }
                println "     [archive] ${found.sort().join(', ')}"
            }
        }
        step('slackSend') { Map m -> [channelId: m.channel, ts: '1700000000.000100'] }
        step('checkout') { scmArg ->
            needNode('checkout')
            // Jenkins checks out in the container the step runs in: jnlp has git.
            assert currentContainer() == 'jnlp' || podContainers == null: "checkout in container ${currentContainer()}"
            [GIT_COMMIT: COMMIT, GIT_BRANCH: env.BRANCH_NAME, GIT_URL: 'https://git.example.com/hello.git']
        }
        step('input') { Map m ->
            if (inputAnswer != 'approve') {
                throw new BuildAborted("Rejected by ${inputAnswer}")
            }
            null
        }
    }

    private void loadVars() {
        for (String each in varNames()) {
            String name = each  // one variable per closure
            Class varClass = VAR_CLASSES[name]
            if (varClass == null) {
                varClass = LOADER.parseClass(new File(LIB_ROOT, "vars/${name}.groovy"))
                VAR_CLASSES[name] = varClass
            }
            Script script = org.codehaus.groovy.runtime.InvokerHelper.createScript(varClass, binding)
            binding.setVariable(name) { Object[] a ->
                record(name, a as List)
                script.invokeMethod('call', a)
            }
        }
    }

    /** Calls a library step as a Jenkinsfile would. */
    Object call(String varName, Object... args) {
        (binding.getVariable(varName) as Closure).call(args)
    }
}
