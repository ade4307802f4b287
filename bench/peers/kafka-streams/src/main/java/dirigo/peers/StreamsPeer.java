// The Kafka Streams side of the peers benchmark (bench/src/peers.ts): the same apps as the Dirigo side.
//   count:       keyed count of the input, state in an in-memory store (changelogged), every update sent
//                downstream (no record cache), output value the count as a long;
//   count-persistent: the same with the state in a persistent store (RocksDB under state.dir);
//   passthrough: every input record to the output as it is.
// One stream thread. The benchmark times the run from the group's committed offsets and reads this process's CPU
// time from /proc, so this program only runs the topology until it is stopped (SIGTERM).
//
// Usage: StreamsPeer <count|count-persistent|passthrough> <at_least_once|exactly_once_v2> <bootstrap>
//        <application.id> <input> <output> [state.dir]
package dirigo.peers;

import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;

public final class StreamsPeer {
  public static void main(String[] args) throws InterruptedException {
    if (args.length != 6 && args.length != 7) {
      System.err.println(
          "usage: StreamsPeer <count|count-persistent|passthrough> <at_least_once|exactly_once_v2> <bootstrap> <application.id> <input> <output> [state.dir]");
      System.exit(2);
    }
    String mode = args[0];
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[3]);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[2]);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[1]);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    // Every update downstream, as the Dirigo count emits one output per input.
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    // Commit about as often as exactly-once does by default (Dirigo commits every step).
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    props.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    if (args.length == 7) props.put(StreamsConfig.STATE_DIR_CONFIG, args[6]);

    StreamsBuilder builder = new StreamsBuilder();
    KStream<Bytes, Bytes> input = builder.stream(args[4], Consumed.with(Serdes.Bytes(), Serdes.Bytes()));
    if (mode.equals("count") || mode.equals("count-persistent")) {
      input
          .groupByKey(Grouped.with(Serdes.Bytes(), Serdes.Bytes()))
          .count(
              Materialized.<Bytes, Long>as(
                      mode.equals("count")
                          ? Stores.inMemoryKeyValueStore("counts")
                          : Stores.persistentKeyValueStore("counts"))
                  .withKeySerde(Serdes.Bytes())
                  .withValueSerde(Serdes.Long())
                  .withCachingDisabled())
          .toStream()
          .to(args[5], Produced.with(Serdes.Bytes(), Serdes.Long()));
    } else if (mode.equals("passthrough")) {
      input.to(args[5], Produced.with(Serdes.Bytes(), Serdes.Bytes()));
    } else {
      System.err.println("unknown mode " + mode);
      System.exit(2);
    }

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    CountDownLatch stopped = new CountDownLatch(1);
    streams.setUncaughtExceptionHandler(
        e -> {
          e.printStackTrace();
          return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
              .SHUTDOWN_CLIENT;
        });
    streams.setStateListener(
        (now, before) -> {
          System.out.println("state " + now);
          if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) stopped.countDown();
        });
    Runtime.getRuntime().addShutdownHook(new Thread(streams::close));
    streams.start();
    stopped.await();
  }
}
