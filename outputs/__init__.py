"""Policy renderers: each turns learner.policy.ProposedPolicy values into one dialect."""
