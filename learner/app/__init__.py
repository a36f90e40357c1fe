"""The application: strings read, normalise, aggregate, learn, render, self-check and diff together."""
