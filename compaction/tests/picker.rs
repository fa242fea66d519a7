//! The picker as a pure function: targets, scores, choices.

use strata_compaction::picker::{self, Choice, Config, FileInfo};
use strata_sstable::encode_internal_key;

fn file(number: u64, lo: &str, hi: &str, size: u64) -> FileInfo {
    FileInfo {
        number,
        size,
        smallest: encode_internal_key(lo.as_bytes(), 10, 1),
        largest: encode_internal_key(hi.as_bytes(), 1, 1),
        being_compacted: false,
        min_expiry_ms: None,
    }
}

const MB: u64 = 1 << 20;

fn empty() -> Vec<Vec<FileInfo>> {
    vec![Vec::new(); 7]
}

#[test]
fn an_empty_tree_sends_l0_to_the_last_level() {
    let levels = empty();
    let t = picker::targets(&levels, &Config::default());
    assert_eq!(t.base_level, 6);
}

#[test]
fn dynamic_targets_grow_tenfold_from_the_last_level() {
    let mut levels = empty();
    levels[6] = vec![file(1, "a", "z", 128_000 * MB)]; // 125 GiB
    let t = picker::targets(&levels, &Config::default());
    assert_eq!(t.bytes[6], 128_000 * MB);
    assert_eq!(t.bytes[5], 12_800 * MB);
    assert_eq!(t.bytes[4], 1_280 * MB);
    // 128 MiB would be L3's share: at most base_level_bytes, so L3 is the base level, and
    // its target is raised to base_level_bytes (256 MiB), what L0 sends it at once.
    assert_eq!(t.bytes[3], 256 * MB);
    assert_eq!(t.bytes[2], 0);
    assert_eq!(t.base_level, 3);
    assert_eq!(t.lowest_unnecessary, None);
    for l in 1..t.base_level {
        assert_eq!(
            t.bytes[l], 0,
            "level {l} above the base level has no target"
        );
    }
}

#[test]
fn l0_below_its_trigger_picks_nothing_and_at_it_takes_every_l0_file() {
    let cfg = Config::default();
    let mut levels = empty();
    levels[0] = (1..4).map(|n| file(n, "a", "m", MB)).collect();
    assert_eq!(picker::choose(&levels, &cfg), Choice::Nothing);
    levels[0].push(file(4, "k", "z", MB));
    levels[6] = vec![
        file(10, "a", "c", MB),
        file(11, "x", "y", MB),
        file(12, "zz", "zzz", MB),
    ];
    match picker::choose(&levels, &cfg) {
        Choice::Merge(task) => {
            assert_eq!(task.level, 0);
            assert_eq!(task.output_level, 6);
            assert_eq!(task.inputs.len(), 4);
            assert_eq!(
                task.overlapping,
                vec![10, 11],
                "only overlapping base files join"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn files_being_compacted_are_not_picked_twice() {
    let cfg = Config::default();
    let mut levels = empty();
    levels[0] = (1..6).map(|n| file(n, "a", "z", MB)).collect();
    levels[0][2].being_compacted = true;
    assert_eq!(picker::choose(&levels, &cfg), Choice::Nothing);
}

#[test]
fn a_small_tree_keeps_its_base_level_at_least_base_level_bytes() {
    let cfg = Config::default();
    let mut levels = empty();
    // 300 MiB at the bottom: L5 (30 MiB share) becomes the base level, with a 256 MiB target,
    // so four memtables from L0 do not pass straight on to L6.
    levels[6] = vec![file(60, "a", "z", 300 * MB)];
    let t = picker::targets(&levels, &cfg);
    assert_eq!(t.base_level, 5);
    assert_eq!(t.bytes[5], 256 * MB);
    assert_eq!(t.bytes[6], 300 * MB);
    levels[5] = vec![file(50, "a", "m", 200 * MB)];
    levels[0] = (1..4).map(|n| file(n, "a", "z", 50 * MB)).collect();
    assert_eq!(picker::choose(&levels, &cfg), Choice::Nothing);
    // A fourth L0 file: L0 goes to L5, not L5 to L6.
    levels[0].push(file(4, "a", "z", 50 * MB));
    match picker::choose(&levels, &cfg) {
        Choice::Merge(task) => assert_eq!((task.level, task.output_level), (0, 5)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn l0_larger_than_the_base_level_compacts_below_the_file_trigger() {
    let cfg = Config::default();
    let mut levels = empty();
    levels[6] = vec![file(60, "a", "z", 300 * MB)];
    levels[0] = vec![file(1, "a", "z", 200 * MB), file(2, "a", "z", 100 * MB)];
    let scores = picker::scores(&levels, &cfg, &picker::targets(&levels, &cfg));
    assert!(scores[0] >= 1.0, "{scores:?}");
}

#[test]
fn a_level_above_its_target_pushes_the_file_with_the_least_overlap() {
    let cfg = Config {
        base_level_bytes: 4 * MB,
        ..Config::default()
    };
    let mut levels = empty();
    // L6 sets targets: L6 = 400 MiB, L5 = 40 MiB.
    levels[6] = vec![
        file(60, "a", "c", 100 * MB),
        file(61, "d", "f", 10 * MB),
        file(62, "g", "z", 290 * MB),
    ];
    levels[5] = vec![
        file(50, "a", "c", 20 * MB),
        file(51, "d", "f", 20 * MB),
        file(52, "g", "i", 20 * MB),
    ];
    let t = picker::targets(&levels, &cfg);
    assert_eq!((t.base_level, t.bytes[5]), (4, 40 * MB));
    match picker::choose(&levels, &cfg) {
        Choice::Merge(task) => {
            assert_eq!((task.level, task.output_level), (5, 6));
            assert_eq!(task.inputs, vec![51], "10 MiB below it, the least");
            assert_eq!(task.overlapping, vec![61]);
        }
        other => panic!("{other:?}"),
    }
    // A file being compacted below rules its overlap out.
    levels[6][1].being_compacted = true;
    match picker::choose(&levels, &cfg) {
        Choice::Merge(task) => assert_eq!(task.inputs, vec![50]),
        other => panic!("{other:?}"),
    }
    // With nothing below it, a file is moved, not rewritten.
    levels[6] = vec![file(60, "x", "z", 400 * MB)];
    match picker::choose(&levels, &cfg) {
        Choice::Move { level, file, to } => assert_eq!((level, file, to), (5, 50, 6)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_level_the_tree_no_longer_needs_drains_into_the_next() {
    let cfg = Config::default();
    let mut levels = empty();
    // 200 MiB at the bottom needs no L5 (its share would be 20 MiB), but L5 holds data.
    levels[6] = vec![file(60, "a", "z", 200 * MB)];
    levels[5] = vec![file(50, "a", "m", MB)];
    let t = picker::targets(&levels, &cfg);
    assert_eq!(t.lowest_unnecessary, Some(5));
    match picker::choose(&levels, &cfg) {
        Choice::Merge(task) => assert_eq!((task.level, task.output_level), (5, 6)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn manual_compaction_takes_every_overlapping_file_of_a_level() {
    let cfg = Config::default();
    let mut levels = empty();
    levels[0] = vec![file(1, "a", "c", MB), file(2, "x", "z", MB)];
    let task = picker::manual(&levels, &cfg, 0, b"b", b"d").unwrap();
    assert_eq!(task.inputs, vec![1]);
    assert_eq!(task.output_level, 6);
    assert!(picker::manual(&levels, &cfg, 0, b"d", b"e").is_none());
}

#[test]
fn files_whose_expiry_passed_are_compacted_without_size_pressure() {
    let cfg = Config {
        base_level_bytes: 4 * MB,
        ..Config::default()
    };
    let mut levels = empty();
    levels[5] = vec![file(50, "a", "m", MB)];
    levels[6] = vec![file(60, "a", "c", 100 * MB), file(61, "n", "z", 100 * MB)];
    levels[6][1].min_expiry_ms = Some(1_000);
    assert_eq!(picker::choose(&levels, &cfg), Choice::Nothing);
    assert!(picker::choose_expired(&levels, &cfg, 999).is_none());
    // The last level's file is rewritten in place.
    let task = picker::choose_expired(&levels, &cfg, 1_000).unwrap();
    assert_eq!(
        (task.level, task.output_level, task.inputs.clone()),
        (6, 6, vec![61])
    );
    assert!(task.overlapping.is_empty());
    // A middle level's file merges into the next level.
    levels[5][0].min_expiry_ms = Some(500);
    let task = picker::choose_expired(&levels, &cfg, 1_000).unwrap();
    assert_eq!((task.level, task.output_level), (5, 6));
    assert_eq!(task.overlapping, vec![60]);
    levels[5][0].being_compacted = true;
    let task = picker::choose_expired(&levels, &cfg, 1_000).unwrap();
    assert_eq!(task.inputs, vec![61]);
}
