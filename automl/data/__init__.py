"""Reading a user's table and knowing it: file formats, inferred column roles and task, checks
that refuse bad input with a message, stored datasets and the bundled demo. Imports nothing
of the engine above it (only ``automl.errors`` and ``storage``)."""
