// Project tabs: one tab per served project; switching clears the selection (indices belong to one
// data set) and the shell keeps the URL in sync.

export function mount(element, { store, shortcuts }) {
  element.innerHTML = `
    <div class="brand" title="relscope explorer">relscope</div>
    <nav class="project-tabs" role="tablist" aria-label="Projects"></nav>
    <p class="project-note" hidden></p>`;
  const nav = element.querySelector('.project-tabs');
  const note = element.querySelector('.project-note');

  function render() {
    nav.replaceChildren();
    for (const project of store.projects) {
      const tab = document.createElement('button');
      tab.className = 'project-tab';
      tab.setAttribute('role', 'tab');
      tab.dataset.project = project.id;
      tab.title = `${project.model} on ${project.dataset}`;
      tab.innerHTML = '<span class="name"></span><span class="model"></span>';
      tab.querySelector('.name').textContent = project.name;
      tab.querySelector('.model').textContent = project.model;
      tab.addEventListener('click', () => select(project.id));
      nav.append(tab);
    }
    mark();
  }

  function select(id) {
    if (String(id) === String(store.state.project)) return;
    store.set({ project: String(id), selection: new Int32Array(0), page: 0 });
  }

  function mark() {
    for (const tab of nav.children) {
      const active = tab.dataset.project === String(store.state.project);
      tab.setAttribute('aria-selected', String(active));
      tab.classList.toggle('active', active);
    }
    // the project's own note (e.g. the demo's intervention result), one line under the tabs
    const project = store.projects.find((p) => String(p.id) === String(store.state.project));
    note.textContent = (project && project.description) || '';
    note.hidden = !note.textContent;
  }

  store.on('projects', render);
  store.on('state', ({ changed }) => changed.has('project') && mark());
  for (let n = 1; n <= 9; n++) {
    shortcuts.add(String(n), n === 1 ? 'Switch to project tab 1-9' : '', () => {
      const project = store.projects[n - 1];
      if (project) select(project.id);
    });
  }
}
