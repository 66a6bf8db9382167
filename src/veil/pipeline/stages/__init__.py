"""The stages of a run, in the order of DESIGN.md's data flow: rights exclusions and consent
(while the subject id is still there), minimize, transform."""
