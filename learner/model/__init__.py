"""The model: flows, edges, identities, inventory, proposed policies, diff results, errors. Imports nothing above it."""
