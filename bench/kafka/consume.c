/* The librdkafka C baseline for bench/kafka/run: consume COUNT messages of TOPIC (partitions
 * 0..PARTITIONS-1 assigned from the beginning) with rd_kafka_consumer_poll, the library's
 * ordinary loop, touching each value's length. The rate counts from the first message to the
 * COUNT-th, as kafka-bench does.
 *   cc -O2 consume.c $(pkg-config --cflags --libs rdkafka) -o consume
 *   ./consume BROKERS TOPIC PARTITIONS COUNT */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s BROKERS TOPIC PARTITIONS COUNT\n", argv[0]);
        return 2;
    }
    const char *topic = argv[2];
    int partitions = atoi(argv[3]);
    long count = atol(argv[4]);
    char errstr[512];
    char group[64];
    snprintf(group, sizeof group, "c-baseline-%ld", (long)time(NULL));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, sizeof errstr)) {
        fprintf(stderr, "config: %s\n", errstr);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    long seen = 0;
    size_t bytes = 0;
    double first = 0;
    while (seen < count) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) continue;
        if (!m->err) {
            if (seen == 0) first = now();
            bytes += m->len;
            seen++;
        }
        rd_kafka_message_destroy(m);
    }
    double elapsed = now() - first;
    printf("consume[C librdkafka %s]: %ld messages in %.3f s, %.0f msg/s (bytes %zu)\n",
           rd_kafka_version_str(), seen, elapsed, seen / elapsed, bytes);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}
