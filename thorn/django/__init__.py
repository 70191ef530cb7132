"""Thorn's Django app: add ``"thorn.django"`` to ``INSTALLED_APPS``.

It provides the :class:`~thorn.django.models.Subscriber` model (app label
``webhooks``), its admin, the signal dispatchers used by
:class:`~thorn.ModelEvent`, system checks, and the REST API views.
"""
