"""Delivering a message: plan the deliveries, sign them, attempt them, judge the outcome.

* :mod:`~thorn.delivery.plan`: a message and its subscribers become
  :class:`~thorn.messages.Delivery` values, ordered by host;
* :mod:`~thorn.delivery.sign`: the headers that let receivers verify a body;
* :mod:`~thorn.delivery.run`: one attempt, or many at once, through a transport;
* :mod:`~thorn.delivery.policy`: what an outcome means (callbacks, logging,
  and whether and when to try again).

.. versionadded:: 2.0
"""
