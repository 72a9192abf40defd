// librdkafka's C API for the Stream target. The library is found through pkg-config
// (`rdkafka`); scripts/setup builds a >= 2.2 release into a cached prefix, because the
// Debian 12 package (2.0.2) cannot talk to the test broker (see README, "Kafka client").
#include <librdkafka/rdkafka.h>
