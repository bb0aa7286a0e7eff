package jenkinslib.test

import groovy.json.JsonSlurper

/** Reads a pod YAML's container names with PyYAML (Groovy 2.4 ships no YAML parser). */
class PodYaml {
    static List<String> containerNames(String yaml) {
        Process p = ['python3', '-c',
                     'import json,sys,yaml; d=yaml.safe_load(sys.stdin); ' +
                     'print(json.dumps([c["name"] for c in d["spec"]["containers"]]))'].execute()
        p.outputStream.withWriter('UTF-8') { it << yaml }
        String out = p.inputStream.getText('UTF-8')
        String err = p.errorStream.getText('UTF-8')
        if (p.waitFor() != 0) {
            throw new StepFailure("pod YAML does not parse: ${err}")
        }
        new JsonSlurper().parseText(out) as List<String>
    }
}
