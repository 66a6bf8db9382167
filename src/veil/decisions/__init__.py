"""Automated decisions about people (Art. 22 GDPR; EU AI Act Annex III 5(b)): the model registry,
the decision ledger, explanations, human review and contest, bias monitoring."""
