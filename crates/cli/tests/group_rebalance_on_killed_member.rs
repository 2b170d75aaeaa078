//! A member whose process is killed stops heartbeating without leaving the group: the
//! broker removes it when its session expires, and its partitions move to the member that
//! remains, within the session timeout (plus the time to notice and rejoin).
//!
//! The remaining member commits only after processing, so the group loses nothing
//! (at-least-once): whatever the killed member read but had not committed is read again
//! by its successor, from the group's last committed offsets.
//!
//! The killed member is Debian's kcat in balanced-consumer mode (`kcat -G`), run as a
//! separate process and killed with SIGKILL. It commits nothing (auto-commit off): it is a
//! member that dies after processing and before committing, the case at-least-once is for.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{
    REQUEST_TIMEOUT, assigned_partitions, client_config, create_topic, producer_config,
};
use fjord_testkit::messages::{Numbered, Received, produce_numbered};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

const TOPIC: &str = "payments";
const GROUP: &str = "settlement";
const PARTITIONS: i32 = 6;
/// Messages per batch: one read by the first member alone, one while kcat is in the group,
/// one produced after kcat is killed.
const BATCH: u64 = 1_000;
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
const HEARTBEAT_INTERVAL_MS: &str = "500";
/// Time allowed beyond the session timeout for the broker to notice the expired session
/// and for the remaining member to rejoin and sync.
const TAKEOVER_MARGIN: Duration = Duration::from_secs(4);
/// How many messages the remaining member processes between two commits.
const COMMIT_EVERY: usize = 50;
const NUMBERED: Numbered = Numbered {
    keys: 300,
    value_bytes: 48,
};
const DEADLINE: Duration = Duration::from_secs(60);

/// `kcat -G` as a child process; what it prints is collected as it arrives.
struct KcatMember {
    child: Child,
    /// (partition, offset) of every message kcat printed.
    read: Arc<Mutex<Vec<(i32, i64)>>>,
    stderr: Arc<Mutex<String>>,
}

impl KcatMember {
    fn spawn(bootstrap: &str) -> KcatMember {
        let session_timeout_ms = SESSION_TIMEOUT.as_millis().to_string();
        let settings = [
            ("broker.address.family", "v4"),
            ("session.timeout.ms", session_timeout_ms.as_str()),
            ("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("fetch.wait.max.ms", "100"),
        ];
        let mut command = Command::new("kcat");
        command.args(["-b", bootstrap, "-u", "-f", "%p %o\\n"]);
        for (name, value) in settings {
            command.arg("-X").arg(format!("{name}={value}"));
        }
        command.args(["-G", GROUP, TOPIC]);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start kcat: {error}"));
        let read = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = Arc::clone(&read);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut fields = line.split(' ').map(|f| f.parse::<i64>());
                match (fields.next(), fields.next()) {
                    (Some(Ok(partition)), Some(Ok(offset))) => {
                        sink.lock().unwrap().push((partition as i32, offset));
                    }
                    _ => panic!("unexpected kcat output: {line:?}"),
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        KcatMember {
            child,
            read,
            stderr,
        }
    }

    fn read(&self) -> Vec<(i32, i64)> {
        self.read.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL: no LeaveGroup, no commit, no further heartbeat.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for KcatMember {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The member that survives: processes a message (records its id), then commits.
struct Survivor {
    consumer: BaseConsumer,
    ids: BTreeSet<u64>,
    uncommitted: usize,
}

impl Survivor {
    fn new(bootstrap: &str) -> Survivor {
        let mut config = client_config(bootstrap);
        config
            .set("group.id", GROUP)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set(
                "session.timeout.ms",
                SESSION_TIMEOUT.as_millis().to_string(),
            )
            .set("heartbeat.interval.ms", HEARTBEAT_INTERVAL_MS)
            .set("fetch.wait.max.ms", "100");
        let consumer: BaseConsumer = config.create().unwrap();
        consumer.subscribe(&[TOPIC]).unwrap();
        Survivor {
            consumer,
            ids: BTreeSet::new(),
            uncommitted: 0,
        }
    }

    /// Polls once; a message is processed and, every [`COMMIT_EVERY`] messages or when
    /// nothing more arrives, what has been processed is committed.
    fn poll(&mut self) {
        match self.consumer.poll(Duration::from_millis(20)) {
            Some(message) => {
                let message = message.unwrap();
                self.ids
                    .insert(NUMBERED.check(&Received::from_message(&message)));
                self.uncommitted += 1;
                if self.uncommitted >= COMMIT_EVERY {
                    self.commit();
                }
            }
            None if self.uncommitted > 0 => self.commit(),
            None => {}
        }
    }

    /// Commits the offsets of everything processed. A commit that a rebalance overtakes
    /// fails; at-least-once tolerates that, the messages are read again.
    fn commit(&mut self) {
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(KafkaError::ConsumerCommit(
                code @ (RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId),
            )) => eprintln!("commit overtaken by a rebalance: {code}"),
            Err(error) => panic!("commit: {error}"),
        }
        self.uncommitted = 0;
    }

    fn assignment(&self) -> BTreeSet<i32> {
        assigned_partitions(&self.consumer)
    }
}

/// Polls `survivor` until `done` holds; fails the test after [`DEADLINE`] with `what`
/// and what kcat (if any) read and said.
fn poll_until(
    survivor: &mut Survivor,
    kcat: Option<&KcatMember>,
    what: &str,
    mut done: impl FnMut(&Survivor) -> bool,
) {
    let started = Instant::now();
    while !done(survivor) {
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}; the survivor has {:?} and read {} messages, \
             kcat read {:?}\n--- kcat's stderr\n{}",
            survivor.assignment(),
            survivor.ids.len(),
            kcat.map(|k| k.read().len()),
            kcat.map(KcatMember::stderr).unwrap_or_default()
        );
        survivor.poll();
    }
}

/// Where every acknowledged message went, and the log end offsets that makes.
#[derive(Default)]
struct Produced {
    id_at: HashMap<(i32, i64), u64>,
    log_end: BTreeMap<i32, i64>,
}

impl Produced {
    fn produce(&mut self, bootstrap: &str, ids: std::ops::Range<u64>) {
        for d in produce_numbered(&producer_config(bootstrap), TOPIC, &NUMBERED, ids) {
            self.id_at.insert((d.partition, d.offset), d.id);
            let end = self.log_end.entry(d.partition).or_default();
            *end = (*end).max(d.offset + 1);
        }
    }
}

/// The group's committed offsets, asked by a client outside the group.
fn committed(bootstrap: &str) -> Vec<Option<i64>> {
    let mut config = client_config(bootstrap);
    config.set("group.id", GROUP);
    let outsider: BaseConsumer = config.create().unwrap();
    let mut query = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        query.add_partition(TOPIC, partition);
    }
    let answer = outsider.committed_offsets(query, REQUEST_TIMEOUT).unwrap();
    (0..PARTITIONS)
        .map(
            |p| match answer.find_partition(TOPIC, p).unwrap().offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            },
        )
        .collect()
}

#[test]
fn a_killed_members_partitions_move_within_the_session_timeout_and_nothing_is_lost() {
    let broker = TestBroker::start_with(|config| config.group_initial_rebalance_delay_ms = 0);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]);
    let mut produced = Produced::default();

    // Batch 1: the survivor alone reads and commits all of it.
    produced.produce(&bootstrap, 0..BATCH);
    let mut survivor = Survivor::new(&bootstrap);
    poll_until(&mut survivor, None, "batch 1", |s| {
        s.ids.len() as u64 == BATCH
    });
    survivor.commit();

    // kcat joins: the two split the partitions.
    let mut kcat = KcatMember::spawn(&bootstrap);
    poll_until(&mut survivor, Some(&kcat), "the split", |s| {
        s.assignment().len() == 3
    });
    let kcats_share: BTreeSet<i32> = (0..PARTITIONS)
        .filter(|p| !survivor.assignment().contains(p))
        .collect();

    // Batch 2: each reads its share. kcat commits nothing.
    produced.produce(&bootstrap, BATCH..2 * BATCH);
    let kcats_part: BTreeSet<(i32, i64)> = produced
        .id_at
        .iter()
        .filter(|&(&(p, _), &id)| kcats_share.contains(&p) && id >= BATCH)
        .map(|(&at, _)| at)
        .collect();
    assert!(!kcats_part.is_empty());
    poll_until(&mut survivor, Some(&kcat), "batch 2", |_| {
        let read: BTreeSet<(i32, i64)> = kcat.read().into_iter().collect();
        read.is_superset(&kcats_part)
    });
    let kcat_ids: BTreeSet<u64> = kcat.read().iter().map(|at| produced.id_at[at]).collect();
    assert!(
        kcat_ids.iter().all(|&id| id >= BATCH),
        "kcat started from the group's committed offsets, after batch 1"
    );

    // Kill kcat; batch 3 arrives while its partitions have no reader.
    kcat.kill();
    let killed_at = Instant::now();
    produced.produce(&bootstrap, 2 * BATCH..3 * BATCH);
    poll_until(&mut survivor, Some(&kcat), "the take-over", |s| {
        s.assignment().len() == PARTITIONS as usize
    });
    let took_over = killed_at.elapsed();
    assert!(
        took_over <= SESSION_TIMEOUT + TAKEOVER_MARGIN,
        "the killed member's partitions moved after {took_over:?}"
    );
    // Nor sooner: as in Kafka, a closed connection is not a LeaveGroup. (kcat's last
    // heartbeat may precede the kill by up to a heartbeat interval.)
    assert!(
        took_over >= SESSION_TIMEOUT - Duration::from_secs(1),
        "the killed member's partitions moved after {took_over:?}, before its session expired"
    );

    let all: BTreeSet<u64> = (0..3 * BATCH).collect();
    poll_until(&mut survivor, Some(&kcat), "reading everything", |s| {
        s.ids.union(&kcat_ids).count() == all.len()
    });
    survivor.commit();
    let processed: BTreeSet<u64> = survivor.ids.union(&kcat_ids).copied().collect();
    assert_eq!(processed, all, "no message is lost");
    assert!(
        survivor.ids.is_superset(&kcat_ids),
        "what kcat read but never committed is read again"
    );
    assert_eq!(
        committed(&bootstrap),
        (0..PARTITIONS)
            .map(|p| produced.log_end.get(&p).copied())
            .collect::<Vec<_>>(),
        "the survivor committed everything it processed"
    );
    eprintln!(
        "took over {took_over:?} after the kill; kcat read {} messages, all read again",
        kcat_ids.len()
    );
}
