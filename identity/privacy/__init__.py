"""Privacy by design: consent records, preferences and opt-out propagation, one-click unsubscribe,
data-subject requests (export, erasure), workspace exports and retention. See docs/privacy.md."""
