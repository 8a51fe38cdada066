"""The imperative shell: the facade, the interpreter and everything that touches the world."""
