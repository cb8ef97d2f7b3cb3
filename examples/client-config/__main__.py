"""A consumer of kafka-tls: client settings built from a StackReference, nothing copied by hand.

Config: ``kafkaStack`` names the kafka-tls stack (``organization/kafka-tls/lab`` on a file
backend, ``<org>/kafka-tls/prod`` on Pulumi Cloud).
"""

import pulumi

config = pulumi.Config()
kafka = pulumi.StackReference(config.require("kafkaStack"))
# Every CA a client must trust: during a CA rotation the old and the new one (ca_cert_pem alone
# is the newest CA, which in the rotation's first phase has signed no broker's certificate yet).
ca_pem = kafka.require_output("ca_bundle_pem")
servers = kafka.require_output("ssl_bootstrap_servers")

# librdkafka / confluent-kafka: the CA travels inline, so the settings are complete as they are.
pulumi.export(
    "librdkafka",
    pulumi.Output.all(servers, ca_pem).apply(
        lambda v: {
            "bootstrap.servers": v[0],
            "security.protocol": "SSL",
            "ssl.ca.pem": v[1],
            "ssl.endpoint.identification.algorithm": "https",
        }
    ),
)
# Java clients (Kafka 2.7+): a PEM truststore given inline (one or more CA certificates).
pulumi.export(
    "java_properties",
    pulumi.Output.all(servers, ca_pem).apply(
        lambda v: "\n".join(
            [
                f"bootstrap.servers={v[0]}",
                "security.protocol=SSL",
                "ssl.truststore.type=PEM",
                "ssl.truststore.certificates=" + v[1].strip().replace("\n", "\\n\\\n"),
                "ssl.endpoint.identification.algorithm=https",
                "",
            ]
        )
    ),
)
