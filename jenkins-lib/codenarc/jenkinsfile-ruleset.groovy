// The Jenkinsfile: the library's rule set, adjusted only where Declarative
// syntax itself is the reason (its sections nest by design; `_` is the
// documented target of @Library).
ruleset {
    ruleset('file:codenarc/ruleset.groovy') {
        NestedBlockDepth {
            maxNestedBlockDepth = 9
        }
        UnusedVariable {
            ignoreVariableNames = '_'
        }
        VariableName {
            ignoreVariableNames = '_'
        }
    }
}
