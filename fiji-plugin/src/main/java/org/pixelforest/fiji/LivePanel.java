package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.Line;
import ij.io.OpenDialog;
import ij.io.SaveDialog;

import javax.swing.AbstractAction;
import javax.swing.BorderFactory;
import javax.swing.Box;
import javax.swing.BoxLayout;
import javax.swing.ButtonGroup;
import javax.swing.DefaultListCellRenderer;
import javax.swing.DefaultListModel;
import javax.swing.Icon;
import javax.swing.JButton;
import javax.swing.JCheckBox;
import javax.swing.JColorChooser;
import javax.swing.JComponent;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JMenuItem;
import javax.swing.JOptionPane;
import javax.swing.JPanel;
import javax.swing.JPopupMenu;
import javax.swing.JProgressBar;
import javax.swing.JRadioButton;
import javax.swing.JScrollPane;
import javax.swing.JSlider;
import javax.swing.JSpinner;
import javax.swing.JToggleButton;
import javax.swing.KeyStroke;
import javax.swing.ListSelectionModel;
import javax.swing.SpinnerNumberModel;
import javax.swing.SwingUtilities;
import java.awt.BorderLayout;
import java.awt.Color;
import java.awt.Component;
import java.awt.FlowLayout;
import java.awt.Graphics;
import java.awt.GridLayout;
import java.awt.event.KeyEvent;
import java.awt.event.MouseAdapter;
import java.awt.event.MouseEvent;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import java.io.File;
import java.util.ArrayList;
import java.util.List;

/**
 * The Live Training panel: classes (keys 1-9), how strokes become labels, live update, what the
 * overlay shows, and the work around the loop (features, where to label next, save/open, results).
 * Every button that talks to the worker runs off the event thread.
 */
final class LivePanel extends JFrame {

	private final LiveSession session;
	private final DefaultListModel<LabelClass> classModel = new DefaultListModel<>();
	final JList<LabelClass> classList = new JList<>(classModel);
	final JToggleButton liveToggle = new JToggleButton("Live update", true);
	final JToggleButton eraser = new JToggleButton("Eraser");
	final JCheckBox autoAdd = new JCheckBox("Add each finished selection to the class", true);
	final JCheckBox labelsShown = new JCheckBox("Labels", true);
	final JSlider opacity = new JSlider(0, 100, 50);
	final JRadioButton[] modes = new JRadioButton[PredictionCache.Mode.values().length];
	private final JLabel status = new JLabel(" ");
	private final JProgressBar busy = new JProgressBar();
	private final DefaultListModel<String> suggestionModel = new DefaultListModel<>();
	final JList<String> suggestionList = new JList<>(suggestionModel);
	private boolean updating;
	private JSpinner width;

	LivePanel(LiveSession session) {
		super("Pixel Forest: Live Training - " + session.images.get(0).imp.getTitle());
		this.session = session;
		setDefaultCloseOperation(DISPOSE_ON_CLOSE);
		addWindowListener(new WindowAdapter() {
			@Override public void windowClosed(WindowEvent e) { session.close(); }
		});
		JPanel root = new JPanel();
		root.setLayout(new BoxLayout(root, BoxLayout.Y_AXIS));
		root.setBorder(BorderFactory.createEmptyBorder(6, 8, 6, 8));
		root.add(help("<html>Paint on the image with ImageJ's line, freehand or brush tools, or draw areas:<br>"
			+ "each finished selection becomes a label of the chosen class. Keys 1-9 choose the class.</html>"));
		root.add(classesSection());
		root.add(paintingSection());
		root.add(liveSection());
		root.add(showSection());
		root.add(suggestSection());
		root.add(actionsSection());
		setContentPane(root);
		getRootPane().getInputMap(JComponent.WHEN_IN_FOCUSED_WINDOW).put(KeyStroke.getKeyStroke(KeyEvent.VK_ESCAPE, 0), "cancel");
		getRootPane().getActionMap().put("cancel", new AbstractAction() {
			@Override public void actionPerformed(java.awt.event.ActionEvent e) { IJ.setKeyDown(KeyEvent.VK_ESCAPE); }
		});
		classesChanged();
		pack();
		java.awt.Window iw = session.images.get(0).imp.getWindow();
		if (iw != null) setLocation(Math.max(0, iw.getX() + iw.getWidth() + 4), Math.max(0, iw.getY()));
	}

	private static JLabel help(String text) {
		JLabel l = new JLabel(text);
		l.setAlignmentX(LEFT_ALIGNMENT);
		return l;
	}

	private static JPanel section(String title) {
		JPanel p = new JPanel(new BorderLayout(4, 4));
		p.setBorder(BorderFactory.createTitledBorder(title));
		p.setAlignmentX(LEFT_ALIGNMENT);
		return p;
	}

	private static JButton button(String label, String tip, Runnable action) {
		JButton b = new JButton(label);
		b.setToolTipText(tip);
		b.addActionListener(e -> action.run());
		return b;
	}

	private JPanel classesSection() {
		JPanel p = section("Classes");
		classList.setSelectionMode(ListSelectionModel.SINGLE_SELECTION);
		classList.setVisibleRowCount(4);
		classList.setCellRenderer(new DefaultListCellRenderer() {
			@Override
			public Component getListCellRendererComponent(JList<?> list, Object value, int index, boolean sel, boolean focus) {
				LabelClass c = (LabelClass) value;
				int n = session.roiCount(index);
				super.getListCellRendererComponent(list, (index < 9 ? (index + 1) + "   " : "    ") + c.name
					+ "   (" + n + (n == 1 ? " label)" : " labels)"), index, sel, focus);
				setIcon(swatch(c.color));
				return this;
			}
		});
		classList.addListSelectionListener(e -> {
			if (!updating && classList.getSelectedIndex() >= 0) {
				session.selectClass(classList.getSelectedIndex());
				eraser.setSelected(false);
			}
		});
		classList.addMouseListener(new MouseAdapter() {
			@Override public void mouseClicked(MouseEvent e) { if (e.getClickCount() == 2) rename(); }
		});
		p.add(new JScrollPane(classList), BorderLayout.CENTER);
		JPanel b = new JPanel(new GridLayout(4, 1, 2, 2));
		b.add(button("Add", "a new class", () -> { session.addClass(); classesChanged(); }));
		b.add(button("Rename...", "rename the chosen class (or double-click it)", this::rename));
		b.add(button("Colour...", "the chosen class's colour", this::recolor));
		b.add(button("Delete", "delete the chosen class and its labels", this::delete));
		p.add(b, BorderLayout.EAST);
		return p;
	}

	static Icon swatch(Color color) {
		return new Icon() {
			@Override public void paintIcon(Component c, Graphics g, int x, int y) {
				g.setColor(color); g.fillRect(x, y, 14, 14); g.setColor(Color.darkGray); g.drawRect(x, y, 14, 14);
			}
			@Override public int getIconWidth() { return 16; }
			@Override public int getIconHeight() { return 15; }
		};
	}

	private void rename() {
		int k = classList.getSelectedIndex();
		if (k < 0) return;
		String name = JOptionPane.showInputDialog(this, "Name of class " + (k + 1) + ":", session.classes.get(k).name);
		if (name != null && name.contains(",")) {
			JOptionPane.showMessageDialog(this, "A class name cannot contain a comma.");
			return;
		}
		if (name != null && session.classIndex(name.trim()) >= 0 && session.classIndex(name.trim()) != k) {
			JOptionPane.showMessageDialog(this, "There is a class named " + name.trim() + " already: two classes need two names.");
			return;
		}
		session.renameClass(k, name);
	}

	private void recolor() {
		int k = classList.getSelectedIndex();
		if (k < 0) return;
		session.recolorClass(k, JColorChooser.showDialog(this, "Colour of " + session.classes.get(k).name, session.classes.get(k).color));
	}

	private void delete() {
		int k = classList.getSelectedIndex();
		if (k < 0 || session.classes.size() <= 1) return;
		int n = session.roiCount(k);
		if (n > 0 && JOptionPane.showConfirmDialog(this, "Delete " + session.classes.get(k).name + " and its " + n + " label(s)?",
			"Pixel Forest", JOptionPane.OK_CANCEL_OPTION) != JOptionPane.OK_OPTION) return;
		session.deleteClass(k);
	}

	private JPanel paintingSection() {
		JPanel p = section("Painting");
		JPanel row = new JPanel(new FlowLayout(FlowLayout.LEFT, 4, 0));
		row.add(new JLabel("Brush width"));
		width = new JSpinner(new SpinnerNumberModel(Math.max(1, Line.getWidth()), 1, 200, 1));
		width.setToolTipText("the width of line selections (ImageJ's line width): a line with a width is a brush stroke");
		width.addChangeListener(e -> Line.setWidth((Integer) width.getValue()));
		row.add(width);
		eraser.setToolTipText("the next finished selections remove the labels under them");
		eraser.addActionListener(e -> session.eraser = eraser.isSelected());
		row.add(eraser);
		JButton add = button("Add selection", "add the current selection to the chosen class", () -> {
			for (LiveImage li : session.images) if (li.imp == WindowManager.getCurrentImage()) session.selectionFinished(li, true);
		});
		row.add(add);
		autoAdd.setToolTipText("off: add selections with the Add selection button");
		autoAdd.addActionListener(e -> session.autoAdd = autoAdd.isSelected());
		p.add(autoAdd, BorderLayout.NORTH);
		p.add(row, BorderLayout.CENTER);
		if (Line.getWidth() < 2) Line.setWidth(5);
		width.setValue(Line.getWidth());
		return p;
	}

	private JPanel liveSection() {
		JPanel p = section("Live update");
		liveToggle.setToolTipText("retrain and show the prediction after every change of the labels (Esc cancels a round)");
		liveToggle.addActionListener(e -> session.setLive(liveToggle.isSelected()));
		busy.setPreferredSize(new java.awt.Dimension(90, 14));
		JPanel row = new JPanel(new BorderLayout(6, 0));
		row.add(liveToggle, BorderLayout.WEST);
		row.add(busy, BorderLayout.EAST);
		p.add(row, BorderLayout.NORTH);
		status.setPreferredSize(new java.awt.Dimension(360, 18));
		p.add(status, BorderLayout.CENTER);
		return p;
	}

	private JPanel showSection() {
		JPanel p = section("Show");
		JPanel row = new JPanel(new FlowLayout(FlowLayout.LEFT, 4, 0));
		ButtonGroup group = new ButtonGroup();
		PredictionCache.Mode[] all = PredictionCache.Mode.values();
		for (int i = 0; i < all.length; i++) {
			PredictionCache.Mode m = all[i];
			modes[i] = new JRadioButton(m.label, m == session.mode);
			modes[i].addActionListener(e -> { session.mode = m; session.rerender(); });
			group.add(modes[i]);
			row.add(modes[i]);
		}
		p.add(row, BorderLayout.NORTH);
		JPanel row2 = new JPanel(new FlowLayout(FlowLayout.LEFT, 4, 0));
		row2.add(new JLabel("Opacity"));
		opacity.setPreferredSize(new java.awt.Dimension(150, 20));
		opacity.addChangeListener(e -> { session.opacity = opacity.getValue() / 100.0; session.refreshAll(); });
		row2.add(opacity);
		labelsShown.setToolTipText("show the label strokes over the prediction");
		labelsShown.addActionListener(e -> { session.showLabels = labelsShown.isSelected(); session.refreshAll(); });
		row2.add(labelsShown);
		p.add(row2, BorderLayout.CENTER);
		return p;
	}

	private JPanel suggestSection() {
		JPanel p = section("Where to label next");
		p.add(button("Find uncertain places", "where a stroke teaches most: wide uncertain areas of this slice, away from your labels, spread out",
			() -> session.submit("Where to label next", () -> session.suggest(5))), BorderLayout.NORTH);
		suggestionList.setVisibleRowCount(3);
		suggestionList.setToolTipText("click a place to go there");
		suggestionList.addListSelectionListener(e -> {
			if (!updating && !e.getValueIsAdjusting()) session.jumpTo(suggestionList.getSelectedIndex());
		});
		p.add(new JScrollPane(suggestionList), BorderLayout.CENTER);
		return p;
	}

	private JPanel actionsSection() {
		JPanel p = new JPanel(new GridLayout(2, 3, 4, 4));
		p.setAlignmentX(LEFT_ALIGNMENT);
		p.add(button("Features...", "which filters the classifier sees (presets or your own choice; Suggest)",
			() -> FeatureDialog.show(this, session)));
		p.add(button("Save...", "save the classifier with its labels (.pfc)", () -> {
			String path = askSavePath(session.savedPath != null ? session.savedPath : null);
			if (path != null) session.submit("Saving", () -> { session.waitForRound(); session.save(path); });
		}));
		p.add(button("Open...", "resume a saved classifier and its labels on this image", () -> {
			OpenDialog od = new OpenDialog("Open a Pixel Forest classifier (.pfc)");
			if (od.getFileName() != null) session.submit("Opening", () -> session.resume(od.getPath()));
		}));
		JButton create = new JButton("Create result");
		create.setToolTipText("probabilities, segmentation or uncertainty as a new image (as Apply Classifier...)");
		JPopupMenu menu = new JPopupMenu();
		for (String out : new String[] { "Probabilities", "Simple Segmentation", "Uncertainty" }) {
			JMenuItem item = new JMenuItem(out);
			item.addActionListener(e -> session.submit("Create result", () -> session.createResult(out)));
			menu.add(item);
		}
		create.addActionListener(e -> menu.show(create, 0, create.getHeight()));
		p.add(create);
		p.add(button("Apply to folder...", "the Batch... command with this classifier", () -> session.submit("Apply to folder", session::applyToFolder)));
		p.add(button("Add image...", "train on another open image too (its labels are kept with it)", this::addImage));
		JPanel wrap = new JPanel(new BorderLayout());
		wrap.setAlignmentX(LEFT_ALIGNMENT);
		wrap.add(Box.createVerticalStrut(4), BorderLayout.NORTH);
		wrap.add(p, BorderLayout.CENTER);
		return wrap;
	}

	private void addImage() {
		List<ImagePlus> candidates = new ArrayList<>();
		for (ImagePlus imp : PixelForestCommand.openImages())
			if (LiveSession.forImage(imp) == null && imp.getProperty("pixelforest.classes") == null) candidates.add(imp);
		if (candidates.isEmpty()) {
			JOptionPane.showMessageDialog(this, "Open another image first (not a result of Pixel Forest).");
			return;
		}
		String[] titles = new String[candidates.size()];
		for (int i = 0; i < titles.length; i++) titles[i] = candidates.get(i).getTitle();
		Object chosen = JOptionPane.showInputDialog(this, "Train on this image too:", "Add image", JOptionPane.PLAIN_MESSAGE, null, titles, titles[0]);
		if (chosen == null) return;
		ImagePlus imp = candidates.get(java.util.Arrays.asList(titles).indexOf(chosen));
		session.submit("Add image", () -> session.addImage(imp));
	}

	/** Asks where to save the classifier (any thread); null when cancelled. */
	String askSavePath(String suggested) {
		String dir = null, name = session.images.get(0).imp.getTitle().replaceAll("\\.[^.]+$", "");
		if (suggested != null) {
			File f = new File(suggested);
			dir = f.getParent();
			name = f.getName().replaceAll("\\.pfc$", "");
		}
		SaveDialog sd = new SaveDialog("Save the classifier", dir, name, ".pfc");
		return sd.getFileName() == null ? null : sd.getDirectory() + sd.getFileName();
	}

	/** The brush width follows ImageJ's line width when it is changed elsewhere (Edit > Options > Line Width...). */
	void syncWidth() {
		if (width != null && (Integer) width.getValue() != Line.getWidth()) width.setValue(Math.max(1, Line.getWidth()));
	}

	/** The classes changed (names, colours, counts, the chosen one). Any thread. */
	void classesChanged() {
		if (!SwingUtilities.isEventDispatchThread()) { SwingUtilities.invokeLater(this::classesChanged); return; }
		updating = true;
		classModel.clear();
		for (LabelClass c : session.classes) classModel.addElement(c);
		if (!session.eraser) {
			int k = Math.min(session.active, session.classes.size() - 1);
			classList.setSelectedIndex(k);
			classList.ensureIndexIsVisible(k);
		}
		else classList.clearSelection();
		eraser.setSelected(session.eraser);
		updating = false;
		classList.repaint();
	}

	void suggestionsChanged() {
		updating = true;
		suggestionModel.clear();
		int i = 1;
		ij.ImagePlus imp = session.images.get(0).imp;
		for (double[] s : session.suggestions) {
			String where = (imp.getNSlices() > 1 ? " slice " + ((int) s[1] + 1) : "") + (imp.getNFrames() > 1 ? " frame " + ((int) s[0] + 1) : "");
			suggestionModel.addElement(String.format("%d. around (%d, %d)%s, uncertainty %.2f", i++, (int) (s[2] + s[4] / 2),
				(int) (s[3] + s[5] / 2), where, s[6]));
		}
		updating = false;
	}

	/** The status line and the busy bar. Any thread. */
	void showStatus(String text, boolean working, boolean error) {
		SwingUtilities.invokeLater(() -> {
			status.setText(text);
			status.setForeground(error ? new Color(180, 0, 0) : Color.black);
			status.setToolTipText(text);
			busy.setIndeterminate(working);
			if (!working) classList.repaint();
		});
	}
}
