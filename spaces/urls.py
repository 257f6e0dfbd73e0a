from django.urls import path

from spaces import views
from spaces.enlist_file_view import enlist_file
from spaces.search_views import search_page, switcher_results

app_name = "spaces"
urlpatterns = [
    path("", views.space_list, name="list"),
    path("switcher/", views.switcher, name="switcher"),
    path("switcher/results/", switcher_results, name="switcher-results"),
    path("search/", search_page, name="search"),
    path("standard-environments/", views.standard_environments, name="standard-environments"),
    # "instances/" (the instances console) is added by odcm/urls.py: it is monitoring's view.
    path("instances/enlist/", views.enlist, name="enlist"),
    path("instances/enlist/file/", enlist_file, name="enlist-file"),
    path("instances/<uuid:pk>/", views.instance, name="instance"),
    path("instances/<uuid:pk>/edit/", views.instance_edit, name="instance-edit"),
    path("instances/<uuid:pk>/refresh/", views.instance_refresh, name="instance-refresh"),
    path("instances/<uuid:pk>/api-key/", views.instance_rotate, name="instance-rotate"),
    path("instances/<uuid:pk>/unenlist/", views.instance_unenlist, name="instance-unenlist"),
    path("instances/<uuid:pk>/new-space/", views.space_create, name="space-create"),
    path("<uuid:pk>/", views.space, name="space"),
    path("<uuid:pk>/favourite/", views.favourite, name="favourite"),
    path("<uuid:pk>/delete/", views.space_delete, name="space-delete"),
    path("<uuid:pk>/<str:verb>/", views.space_state, name="space-state"),
]
