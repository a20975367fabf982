//! The terms of a lexical index: each term's text held once, by id, with a hash table of ids
//! to find a term's id from its text.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

/// Term texts by id, ids by text; the id of a released term is given to the next new one.
#[derive(Debug, Default)]
pub(crate) struct Vocab {
    /// Ids, hashed by their term's text.
    ids: HashTable<u32>,
    /// The text of each id (empty once released).
    text: Vec<Box<str>>,
    /// Released ids.
    free: Vec<u32>,
    hasher: RandomState,
}

impl Vocab {
    /// Terms held.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The id of `term`, if it is held.
    pub(crate) fn id(&self, term: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(term);
        self.ids
            .find(hash, |&id| &*self.text[id as usize] == term)
            .copied()
    }

    /// The id of `term`, given a new one (a released one first, else the next number) if it
    /// has none.
    pub(crate) fn intern(&mut self, term: &str) -> u32 {
        if let Some(id) = self.id(term) {
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.text[id as usize] = term.into();
                id
            }
            None => {
                self.text.push(term.into());
                (self.text.len() - 1) as u32
            }
        };
        let (text, hasher) = (&self.text, &self.hasher);
        self.ids.insert_unique(hasher.hash_one(term), id, |&i| {
            hasher.hash_one(&*text[i as usize])
        });
        id
    }

    /// Forgets the term of `id`; its id may be given to another term.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(text) = self.text.get_mut(id as usize) else {
            return;
        };
        let term = std::mem::take(text);
        let hash = self.hasher.hash_one(&*term);
        if let Ok(entry) = self.ids.find_entry(hash, |&i| i == id) {
            entry.remove();
            self.free.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_reused_after_release() {
        let mut v = Vocab::default();
        let a = v.intern("cargo");
        let b = v.intern("build");
        assert_ne!(a, b);
        assert_eq!(v.intern("cargo"), a);
        assert_eq!(v.id("build"), Some(b));
        assert_eq!(v.len(), 2);
        v.release(a);
        assert_eq!(v.id("cargo"), None);
        assert_eq!(v.len(), 1);
        let c = v.intern("enospc");
        assert_eq!(c, a, "a released id is reused");
        assert_eq!(v.id("enospc"), Some(a));
        assert_eq!(v.id("build"), Some(b));
        v.release(a);
        v.release(a);
        assert_eq!(v.len(), 1, "releasing twice is harmless");
    }
}
