//! Whom a node bootstraps to: every other node (the default, a full mesh of bootstrap links),
//! or, for large testnets, a few at exponentially growing distances behind it on a ring.

/// The 0-based indices of the nodes node `index` (0-based, of `total`) bootstraps to. With
/// `fanout = Some(k)`: the nodes 1, 2, 4, 8, ... places before it (wrapping around), at most
/// `k` of them: a connected graph of diameter about log2(total) with about `2k` links per
/// node. With `None`: every other node.
pub fn bootstrap_targets(index: usize, total: usize, fanout: Option<usize>) -> Vec<usize> {
    let Some(k) = fanout else {
        return (0..total).filter(|&i| i != index).collect();
    };
    let mut out = Vec::new();
    let mut offset = 1;
    while out.len() < k && offset < total {
        let target = (index + total - offset) % total;
        if !out.contains(&target) {
            out.push(target);
        }
        offset *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_others_without_a_fanout() {
        assert_eq!(bootstrap_targets(1, 4, None), vec![0, 2, 3]);
    }

    #[test]
    fn exponential_offsets_behind_on_the_ring() {
        assert_eq!(bootstrap_targets(10, 88, Some(4)), vec![9, 8, 6, 2]);
        assert_eq!(bootstrap_targets(0, 88, Some(3)), vec![87, 86, 84]);
        assert_eq!(bootstrap_targets(0, 3, Some(8)), vec![2, 1]);
        assert!(bootstrap_targets(0, 1, Some(4)).is_empty());
    }

    #[test]
    fn every_node_is_reachable_from_the_first() {
        let total = 88;
        let mut seen = vec![false; total];
        let mut todo = vec![0];
        seen[0] = true;
        while let Some(i) = todo.pop() {
            for (j, seen_j) in seen.iter_mut().enumerate() {
                let linked = bootstrap_targets(i, total, Some(4)).contains(&j)
                    || bootstrap_targets(j, total, Some(4)).contains(&i);
                if linked && !*seen_j {
                    *seen_j = true;
                    todo.push(j);
                }
            }
        }
        assert!(seen.iter().all(|s| *s));
    }
}
