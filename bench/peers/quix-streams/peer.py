# The Quix Streams side of the peers benchmark (bench/src/peers.ts): the same apps as the Dirigo and Kafka Streams
# sides, on Quix Streams 3.28 (Python, on confluent-kafka / librdkafka).
#   count:            keyed count of the input, state in Quix Streams' in-memory store (MemoryStore, changelogged),
#                     every update sent downstream, output value the count as an 8-byte big-endian long (what Kafka
#                     Streams' Serdes.Long() writes);
#   count-persistent: the same with the state in Quix Streams' default store (RocksDB under the state dir);
#   passthrough:      every input record to the output as it is (bytes in, bytes out).
# Input values are read as bytes, not parsed, as on the Kafka Streams side. One process, one processing thread (a
# Quix Streams Application is single-threaded; librdkafka has its own I/O threads). Commit interval 100 ms,
# auto.offset.reset earliest, changelog topics on (Quix Streams creates changelog__<group>--<input>--default).
#
# Where it differs from Kafka Streams (no setting changes these): Quix Streams buffers a checkpoint's state updates
# and writes them to the changelog (and to RocksDB, one WriteBatch) when the checkpoint commits, one record per key
# changed in the checkpoint, where Kafka Streams without a record cache writes the changelog on every update.
#
# The benchmark times the run from the group's committed offsets and reads this process's CPU time from /proc, so
# this program only runs the pipeline until it is stopped: Application.run() handles SIGTERM itself (stops the
# loop, commits the current checkpoint, closes the clients) and the process exits 0; a SIGTERM during setup
# exits 0 as well.
#
# Built and run by the benchmark (a venv from requirements.txt under .cache/peers/quix-streams/<hash>/venv):
#   <venv>/bin/python peer.py <count|count-persistent|passthrough> <at_least_once|exactly_once> <bootstrap>
#                             <consumer group> <input> <output> <state dir>
import signal
import struct
import sys

from quixstreams import Application
from quixstreams.state.memory import MemoryStore
from quixstreams.state.rocksdb import RocksDBStore

GUARANTEES = {"at_least_once": "at-least-once", "exactly_once": "exactly-once"}
MODES = ("count", "count-persistent", "passthrough")

_long = struct.Struct(">q")


def count(_value: bytes, state) -> bytes:
    # The state of the current message's key (Quix Streams prefixes the store's keys with the message key).
    n = state.get("n", 0) + 1
    state.set("n", n)
    return _long.pack(n)


def main(argv: list[str]) -> int:
    if len(argv) != 7 or argv[0] not in MODES or argv[1] not in GUARANTEES:
        print(
            "usage: peer.py <count|count-persistent|passthrough> <at_least_once|exactly_once> <bootstrap> "
            "<consumer group> <input> <output> <state dir>",
            file=sys.stderr,
        )
        return 2
    mode, guarantee, brokers, group, input_name, output_name, state_dir = argv
    # A SIGTERM before Application.run() installs its own handler (during setup) exits cleanly too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = Application(
        broker_address=brokers,
        consumer_group=group,
        processing_guarantee=GUARANTEES[guarantee],
        commit_interval=0.1,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        use_changelog_topics=True,
        loglevel="INFO",
    )
    # Bytes in and out, no (de)serialization work beyond Quix Streams' own.
    def bytes_topic(name):
        return app.topic(
            name,
            key_deserializer="bytes",
            value_deserializer="bytes",
            key_serializer="bytes",
            value_serializer="bytes",
        )

    input_topic = bytes_topic(input_name)
    output_topic = bytes_topic(output_name)
    sdf = app.dataframe(input_topic)
    if mode != "passthrough":
        # Registered before the stateful apply, which then finds the store in place (register_store is a no-op
        # for a stream that has one). RocksDBStore is Quix Streams' default.
        sdf.register_store(store_type=MemoryStore if mode == "count" else RocksDBStore)
        sdf = sdf.apply(count, stateful=True)
    sdf.to_topic(output_topic)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
