package jenkinslib.test

/** `env`: unset names read as null, values are stored as strings (as in Jenkins). */
class EnvStub extends GroovyObjectSupport {
    private final Map<String, String> values = [:]

    @Override
    Object getProperty(String name) {
        values[name]
    }

    @Override
    void setProperty(String name, Object value) {
        if (value == null) {
            values.remove(name)
        } else {
            values[name] = value.toString()
        }
    }

    Map<String, String> snapshot() {
        new LinkedHashMap<String, String>(values)
    }

    void restore(Map<String, String> saved) {
        values.clear()
        values.putAll(saved)
    }
}
