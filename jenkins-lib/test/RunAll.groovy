// Runs every *Test class under test/groovy in this one JVM and prints
// "N passed, N failed". Exit code 1 on any failure.
import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.Result
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener

File root = new File(System.getProperty('jlib.root'), 'test/groovy')
List<File> files = []
root.eachFileRecurse { File f ->
    if (f.name.endsWith('Test.groovy')) {
        files << f
    }
}
GroovyClassLoader loader = new GroovyClassLoader(this.class.classLoader)
['test/groovy', 'test/stubs', 'src'].each { loader.addClasspath(new File(System.getProperty('jlib.root'), it).path) }
List<Class> classes = files.sort(false) { it.name }.collect { loader.parseClass(it) }

Set<String> failedNames = [] as Set
JUnitCore core = new JUnitCore()
core.addListener(new RunListener() {
    @Override
    void testFailure(Failure failure) {
        failedNames << failure.description.displayName
        println "FAIL ${failure.description.displayName}"
        println failure.message?.readLines()?.take(25)?.collect { '    ' + it }?.join('\n')
        StackTraceElement where = failure.exception.stackTrace.find { it.fileName?.endsWith('.groovy') }
        if (where) {
            println "    at ${where.fileName}:${where.lineNumber}"
        }
    }

    @Override
    void testFinished(Description d) {
        if (!(d.displayName in failedNames)) {
            println "ok   ${d.displayName}"
        }
    }
})
Result result = core.run(classes as Class[])
int failed = result.failureCount
int passed = result.runCount - failed
println "${passed} passed, ${failed} failed"
System.exit(failed == 0 && result.runCount > 0 ? 0 : 1)
