package jenkinslib.test

/** The pipeline rehearsal (see test/Rehearsal.groovy, which runs it). */
class RehearsalRun {

    @SuppressWarnings(['MethodSize', 'AbcMetric', 'Println'])
    static boolean run(File workspace, String standins) {
        String commit = ['git', '-C', workspace.path, 'rev-parse', 'HEAD'].execute().text.trim()
        File testAll = new File(workspace, 'scripts/test-all.sh')
        List<String> notRerun = ['scripts/test-all.sh', 'scripts/install-tools.sh'] +
            ((testAll.text =~ /(?s)\nsuites=\((.*?)\n\)/)[0][1] as String).readLines()*.replaceAll(/#.*/, '')*.trim().findAll()
        File credentials = new File(System.getenv('REHEARSAL_DIR'), 'credentials')
        credentials.mkdirs()

        PipelineHarness h = new PipelineHarness()
        h.workspace = workspace
        h.env.BRANCH_NAME = 'main'
        h.env.JOB_NAME = 'hello/main'
        h.credentialValue = { Map binding, String variable ->
            if (binding.kind == 'file') {
                File f = new File(credentials, binding.credentialsId as String)
                f.text = "stand-in content of credential ${binding.credentialsId}\n"
                return f.path
            }
            "stand-in-${binding.credentialsId}-${variable.toLowerCase()}".toString()
        }
        h.executor = { String script, Object arg, File dir ->
            boolean returnStatus = arg instanceof Map && arg.returnStatus
            boolean returnStdout = arg instanceof Map && arg.returnStdout
            String label = arg instanceof Map && arg.label ? arg.label : script.readLines()[0]
            println "  \$ [${h.currentContainer()}] ${label}"
            java.util.regex.Matcher suite = script =~ /^\.\/([\w\/.-]+\.sh)$/
            if (suite && suite.group(1) in notRerun) {
                File f = new File(workspace, suite.group(1))
                if (!f.canExecute()) {
                    throw new StepFailure("${suite.group(1)}: not an executable file in the repository")
                }
                println "     [not re-run] ${suite.group(1)}: scripts/test-all.sh runs it in this same run"
                return returnStatus ? 0 : (returnStdout ? '' : null)
            }
            ProcessBuilder pb = new ProcessBuilder(['sh', '-xe', '-c', script]).directory(dir)
            Map<String, String> environment = pb.environment()
            environment.putAll(h.env.snapshot())
            environment.REHEARSAL_REAL_PATH = System.getenv('PATH')
            environment.PATH = standins + ':' + System.getenv('PATH')
            if (!returnStdout) {
                pb.redirectErrorStream(true)
            }
            Process p = pb.start()
            StringBuilder out = new StringBuilder()
            Thread reader = Thread.start {
                p.inputStream.eachLine('UTF-8') { String line ->
                    if (returnStdout) {
                        out << line << '\n'
                    } else {
                        println "     | ${line}"
                    }
                }
            }
            if (returnStdout) {
                Thread.start { p.errorStream.eachLine('UTF-8') { String line -> println "     | ${line}" } }
            }
            int rc = p.waitFor()
            reader.join()
            if (returnStatus) {
                return rc
            }
            if (rc != 0) {
                throw new StepFailure("script returned exit code ${rc}")
            }
            returnStdout ? out.toString() : null
        }
        h.binding.setVariable('checkout') { Object[] a ->
            // The copy is a clone at this commit with the working tree's changes: no SCM to fetch.
            [GIT_COMMIT: commit, GIT_BRANCH: 'main', GIT_URL: 'https://git.example.com/platform/hello.git']
        }
        h.binding.setVariable('slackSend') { Map m ->
            println "  [stand-in Slack] ${m.channel} ${m.color}: ${m.message}"
            [channelId: m.channel, ts: '0']
        }

        DeclarativeStub s = new DeclarativeStub(h)
        s.previousResult = 'SUCCESS'
        s.load(new File(workspace, 'Jenkinsfile'))
        String result = s.run()
        println ''
        s.stageLog.each { println String.format('  %-16s %s%s', it.status, it.name, it.error ? " -- ${it.error}" : '') }
        println "  image: ${h.env.IMAGE_REF}"
        println "rehearsal: ${result}"
        result == 'SUCCESS' && s.stageLog.every { it.status == 'SUCCESS' }
    }
}
