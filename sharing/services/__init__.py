"""The sharing broker's logic, split by concern.

trusts        who may share with whom
items         shared items, revisions, diffs, imports
subscriptions subscribing, modes, pins, sync now, statuses
delivery      queueing, claiming and running deliveries, retries, the pause switch
drift         comparing subscribed copies with their revisions
alerts        emailing publisher owners about long failures and recoveries
"""
