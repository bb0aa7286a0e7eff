package jenkinslib.test

import groovy.json.JsonSlurper

/** Reads the JCasC file with PyYAML (Groovy 2.4 ships no YAML parser). */
class JcascYaml {
    static Map read(File file) {
        Process p = ['python3', '-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file.path].execute()
        StringBuilder out = new StringBuilder()
        StringBuilder err = new StringBuilder()
        p.waitForProcessOutput(out, err)
        assert p.exitValue() == 0: "${file}: ${err}"
        new JsonSlurper().parseText(out.toString()) as Map
    }

    /** The globalLibraries entry named `name`, or null. */
    static Map library(File file, String name) {
        read(file).unclassified.globalLibraries.libraries.find { it.name == name } as Map
    }
}
