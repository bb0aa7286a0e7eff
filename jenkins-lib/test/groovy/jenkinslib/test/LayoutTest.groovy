package jenkinslib.test

import org.junit.Test

/** The shared-library layout Jenkins expects: vars/NAME.groovy with NAME.txt help, camelCase names. */
class LayoutTest {

    public static final File VARS = new File(PipelineHarness.LIB_ROOT, 'vars')

    @Test
    void everyStepHasHelpAndEveryHelpHasAStep() {
        Set<String> steps = VARS.list().findAll { it.endsWith('.groovy') }.collect { it - '.groovy' } as Set
        Set<String> helps = VARS.list().findAll { it.endsWith('.txt') }.collect { it - '.txt' } as Set
        assert steps == helps
        assert steps.size() >= 10
    }

    @Test
    void stepNamesAreValidIdentifiersWithACallMethod() {
        PipelineHarness.varNames().each { String name ->
            assert name ==~ /[a-z][A-Za-z0-9]*/
            String text = new File(VARS, "${name}.groovy").text
            assert text =~ /(?m)^(def|String|boolean) call\(/: "${name} has no call method"
        }
    }

    @Test
    void helpFilesAreNotEmpty() {
        VARS.listFiles().findAll { it.name.endsWith('.txt') }.each { assert it.text.trim().length() > 40: it.name }
    }

    @Test
    void podTemplatesPinEveryImageToAnExactTag() {
        new File(PipelineHarness.LIB_ROOT, 'resources/hello/ci').listFiles().findAll { it.name.endsWith('.yaml') }.each { f ->
            List<String> images = (f.text =~ /(?m)^\s+image:\s*(\S+)/).collect { it[1] }
            assert images: "${f.name} has no images"
            images.each { String image ->
                assert image =~ /:[0-9v][^:]*$/ && !image.endsWith(':latest'): "${f.name}: ${image} is not pinned to a version tag"
            }
        }
    }
}
