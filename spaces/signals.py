"""Registry events other apps react to (monitoring starts watching, for example).

Sent inside the transaction that enlists; receivers that start work must defer it to commit.
"""

from django.dispatch import Signal

# sender=Instance, instance_id=<UUID>: an instance and its chosen spaces were enlisted.
instance_enlisted = Signal()
# sender=Space, space_id=<UUID>: one more space is enlisted on an instance already enlisted.
space_enlisted = Signal()
