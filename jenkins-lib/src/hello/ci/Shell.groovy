package hello.ci

/** Quoting for values that end up in `sh` scripts (POSIX shell). */
class Shell implements Serializable {

    private static final long serialVersionUID = 1L

    /** Leaves plain words alone (readable logs) and single-quotes everything else. */
    static String quote(String value) {
        if (value == null) {
            throw new IllegalArgumentException('cannot quote null')
        }
        if (value ==~ /[A-Za-z0-9_.,:\/@%+=-]+/) {
            return value
        }
        "'" + value.replace("'", "'\"'\"'") + "'"
    }
}
