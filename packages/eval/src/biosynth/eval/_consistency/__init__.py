"""Cross-modal consistency of synthetic cases: a note against the EHR history it was written from, an image's class
label against the note it was drawn from. Private: the public names are exported by `biosynth.eval`."""
