package org.apache.kafka.common.utils;

/**
 * Compatibility shim built by the kafka-tls lab.
 *
 * connect-file 4.4.0 is not on Maven Central, so the lab runs connect-file 4.3.1 on the 4.4.0 runtime.
 * Its connectors' version() calls org.apache.kafka.common.utils.AppInfoParser, which 4.4.0 moved to
 * org.apache.kafka.common.utils.internals. This class forwards the two static getters.
 */
public final class AppInfoParser {
    private AppInfoParser() {
    }

    public static String getVersion() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getVersion();
    }

    public static String getCommitId() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getCommitId();
    }
}
