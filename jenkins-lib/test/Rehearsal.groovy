// The pipeline rehearsal: runs the Jenkinsfile of a copy of the repository
// through the declarative stub with the library of that copy, as a `main`
// build that gets approved, and EXECUTES every `sh` step's script in the copy
// (sh -xe, as Jenkins does). Stand-ins on the PATH (test/rehearsal/) replace
// only the registry, the cluster API and what needs them; Slack is recorded.
// Suites of scripts/test-all.sh are not run a second time (this suite is one
// of them): their scripts must exist and be executable.
// Usage: groovy -Djlib.root=COPY/jenkins-lib test/Rehearsal.groovy COPY STANDINS TESTDIR
// A launcher, like RunAll.groovy: the harness classes are compiled by a loader
// that sees test/groovy (args[2] = this test/ folder).
File testDir = new File(args[2])
GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
['groovy', 'stubs'].each { loader.addClasspath(new File(testDir, it).path) }
Class run = loader.parseClass(new File(testDir, 'groovy/jenkinslib/test/RehearsalRun.groovy'))
System.exit(run.run(new File(args[0]).canonicalFile, new File(args[1]).canonicalPath) ? 0 : 1)
