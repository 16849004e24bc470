package org.pixelforest.fiji;

import ij.io.OpenDialog;

import javax.swing.BorderFactory;
import javax.swing.JButton;
import javax.swing.JCheckBox;
import javax.swing.JComboBox;
import javax.swing.JDialog;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JOptionPane;
import javax.swing.JPanel;
import javax.swing.JSpinner;
import javax.swing.JTextField;
import javax.swing.SpinnerNumberModel;
import javax.swing.SwingUtilities;
import java.awt.BorderLayout;
import java.awt.FlowLayout;
import java.awt.GridBagConstraints;
import java.awt.GridBagLayout;
import java.awt.GridLayout;
import java.awt.Insets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.pixelforest.fiji.Protocol.Key;
import org.pixelforest.fiji.Protocol.Out;

/**
 * Features...: a preset, or ilastik's feature x scale grid as checkboxes (with pixelforest's own
 * features), the normalisation, and Suggest (the engine's suggestion methods on the session's labels).
 */
final class FeatureDialog extends JDialog {

	private final LiveSession session;
	private final List<String> ids, names;
	private final List<Double> minScale;
	/** the largest scale of each feature that the session's smallest image holds (null: any) */
	private final List<Double> maxScale = new ArrayList<>();
	private int planeSize;
	private final Map<String, Object> presets;
	private final JPanel grid = new JPanel();
	private final JTextField scalesField = new JTextField(24);
	private final JComboBox<String> normalize = new JComboBox<>(new String[] { "otsu", "percentile", "none" });
	private final JComboBox<String> preset;
	private List<Double> scales = new ArrayList<>();
	private JCheckBox[][] boxes = new JCheckBox[0][0];
	private Object computeIn2d;

	/** Loads the presets from the worker (off the event thread), then shows the dialog. */
	static void show(JFrame owner, LiveSession session) {
		session.submit("Features", () -> {
			Map<String, Object> out = PythonService.call(Protocol.FEATURE_PRESETS, LiveSession.map(Key.SESSION, session.id), null,
				"reading the feature presets");
			SwingUtilities.invokeLater(() -> new FeatureDialog(owner, session, out).setVisible(true));
		});
	}

	@SuppressWarnings("unchecked")
	private FeatureDialog(JFrame owner, LiveSession session, Map<String, Object> info) {
		super(owner, "Pixel Forest: Features", true);
		this.session = session;
		ids = (List<String>) info.get(Out.IDS);
		names = (List<String>) info.get(Out.NAMES);
		minScale = new ArrayList<>();
		for (Object v : (List<Object>) info.get(Out.MIN_SCALE)) minScale.add(((Number) v).doubleValue());
		List<Object> max = (List<Object>) info.get(Out.MAX_SCALE);
		for (int f = 0; f < ids.size(); f++)
			maxScale.add(max == null || max.get(f) == null ? null : ((Number) max.get(f)).doubleValue());
		planeSize = info.get(Out.PLANE_SIZE) == null ? 0 : ((Number) info.get(Out.PLANE_SIZE)).intValue();
		presets = (Map<String, Object>) info.get(Out.PRESETS);
		List<String> choices = new ArrayList<>(presets.keySet());
		choices.add("custom");
		preset = new JComboBox<>(choices.toArray(new String[0]));
		JPanel root = new JPanel(new BorderLayout(6, 6));
		root.setBorder(BorderFactory.createEmptyBorder(8, 8, 8, 8));
		root.add(topRows(), BorderLayout.NORTH);
		root.add(grid, BorderLayout.CENTER);
		root.add(bottomRow(), BorderLayout.SOUTH);
		setContentPane(root);
		load(session.features instanceof Map ? (Map<String, Object>) session.features : (Map<String, Object>) presets.get(String.valueOf(session.features)));
		preset.setSelectedItem(matchingPreset());
		preset.addActionListener(e -> {
			Object p = presets.get(String.valueOf(preset.getSelectedItem()));
			if (p != null) load((Map<String, Object>) p);
		});
		pack();
		setLocationRelativeTo(owner);
	}

	/** The preset, intensities and scales rows. */
	private JPanel topRows() {
		JPanel top = new JPanel(new GridLayout(3, 1, 2, 2));
		JPanel r1 = new JPanel(new FlowLayout(FlowLayout.LEFT, 4, 0));
		r1.add(new JLabel("Preset"));
		r1.add(preset);
		r1.add(new JLabel("Intensities"));
		normalize.setToolTipText("otsu: each image scaled so its background and foreground means are 0 and 1 (pixelforest's default); none: as ilastik");
		r1.add(normalize);
		top.add(r1);
		JPanel r2 = new JPanel(new FlowLayout(FlowLayout.LEFT, 4, 0));
		r2.add(new JLabel("Scales (sigma)"));
		r2.add(scalesField);
		JButton apply = new JButton("Set scales");
		apply.addActionListener(e -> {
			List<Double> sc = parseScales(scalesField.getText());
			if (sc.isEmpty() || sc.equals(scales)) return;
			setScales(sc, selected());
			preset.setSelectedItem("custom");  // OK takes the grid, with these scales
		});
		r2.add(apply);
		top.add(r2);
		top.add(new JLabel("<html>Small scales see fine detail; large scales see context. More features: slower, not always better.</html>"));
		return top;
	}

	/** Suggest, From file..., OK and Cancel. */
	private JPanel bottomRow() {
		JPanel bottom = new JPanel(new FlowLayout(FlowLayout.LEFT, 4, 0));
		JComboBox<String> method = new JComboBox<>(new String[] { "filter", "gini", "wrapper" });
		method.setToolTipText("filter: mutual information (ilastik's default); gini: forest importance; wrapper: forward selection");
		JSpinner n = new JSpinner(new SpinnerNumberModel(7, 0, 100, 1));
		n.setToolTipText("how many features (0 = stop by itself)");
		JButton suggest = new JButton("Suggest");
		suggest.setToolTipText("the best features among the checked ones, for your labels");
		suggest.addActionListener(e -> suggest((String) method.getSelectedItem(), (Integer) n.getValue(), suggest));
		bottom.add(suggest);
		bottom.add(method);
		bottom.add(n);
		JButton file = new JButton("From file...");
		file.addActionListener(e -> {
			OpenDialog od = new OpenDialog("Feature file (.json)");
			if (od.getFileName() != null) finish(od.getPath());
		});
		bottom.add(file);
		JButton ok = new JButton("OK"), cancel = new JButton("Cancel");
		ok.addActionListener(e -> finish(preset.getSelectedItem().equals("custom") ? spec() : preset.getSelectedItem()));
		cancel.addActionListener(e -> dispose());
		bottom.add(ok);
		bottom.add(cancel);
		return bottom;
	}

	@SuppressWarnings("unchecked")
	private void load(Map<String, Object> spec) {
		if (spec == null) return;
		List<Double> sc = new ArrayList<>();
		for (Object v : (List<Object>) spec.get("scales")) sc.add(((Number) v).doubleValue());
		Map<String, List<Double>> on = new LinkedHashMap<>();
		Map<String, Object> feats = (Map<String, Object>) spec.get("features");
		for (Map.Entry<String, Object> e : feats.entrySet()) {
			List<Double> s = new ArrayList<>();
			for (Object v : (List<Object>) e.getValue()) s.add(((Number) v).doubleValue());
			on.put(e.getKey(), s);
		}
		normalize.setSelectedItem(String.valueOf(spec.getOrDefault("normalize", "none")));
		computeIn2d = spec.get("compute_in_2d");
		setScales(sc, on);
	}

	private void setScales(List<Double> sc, Map<String, List<Double>> on) {
		if (sc.isEmpty()) return;
		if (!sc.equals(scales)) computeIn2d = null;
		scales = sc;
		StringBuilder t = new StringBuilder();
		for (double s : sc) t.append(t.length() > 0 ? ", " : "").append(fmt(s));
		scalesField.setText(t.toString());
		grid.removeAll();
		grid.setLayout(new GridBagLayout());
		GridBagConstraints g = new GridBagConstraints();
		g.gridy = 0;
		g.insets = new Insets(1, 6, 1, 6);
		g.anchor = GridBagConstraints.WEST;
		grid.add(new JLabel("feature \\ scale (sigma)"), g);
		g.anchor = GridBagConstraints.CENTER;
		for (double s : sc) grid.add(new JLabel(fmt(s)), g);
		boxes = new JCheckBox[ids.size()][sc.size()];
		for (int f = 0; f < ids.size(); f++) {
			g.gridy = f + 1;
			g.anchor = GridBagConstraints.WEST;
			grid.add(new JLabel(names.get(f)), g);
			g.anchor = GridBagConstraints.CENTER;
			List<Double> sel = on.get(ids.get(f));
			for (int i = 0; i < sc.size(); i++) {
				JCheckBox b = new JCheckBox();
				boolean small = sc.get(i) >= minScale.get(f) - 1e-12;
				boolean fits = maxScale.get(f) == null || sc.get(i) <= maxScale.get(f) + 1e-12;
				b.setEnabled(small && fits);
				if (!fits) b.setToolTipText("too large for the images (the smallest is " + planeSize + " pixels across): at most "
					+ fmt(Math.floor(maxScale.get(f) * 100) / 100));
				b.setSelected(b.isEnabled() && sel != null && sel.contains(sc.get(i)));
				b.addActionListener(e -> preset.setSelectedItem("custom"));
				boxes[f][i] = b;
				grid.add(b, g);
			}
		}
		grid.revalidate();
		grid.repaint();
		pack();
	}

	private Map<String, List<Double>> selected() {
		Map<String, List<Double>> on = new LinkedHashMap<>();
		for (int f = 0; f < boxes.length; f++)
			for (int i = 0; i < boxes[f].length; i++)
				if (boxes[f][i].isSelected()) on.computeIfAbsent(ids.get(f), k -> new ArrayList<>()).add(scales.get(i));
		return on;
	}

	/** The grid as a feature spec (the engine's JSON layout, as a map). */
	private Map<String, Object> spec() {
		Map<String, Object> s = new LinkedHashMap<>();
		s.put("scales", new ArrayList<>(scales));
		s.put("features", selected());
		s.put("normalize", normalize.getSelectedItem());
		s.put("compute_in_2d", computeIn2d);
		return s;
	}

	private String matchingPreset() {
		Map<String, Object> mine = spec();
		for (String name : presets.keySet()) {
			@SuppressWarnings("unchecked") Map<String, Object> p = (Map<String, Object>) presets.get(name);
			if (String.valueOf(p.get("features")).equals(String.valueOf(mine.get("features")))
				&& String.valueOf(p.get("normalize")).equals(String.valueOf(mine.get("normalize")))) return name;
		}
		return "custom";
	}

	private void suggest(String method, int n, JButton button) {
		button.setEnabled(false);
		Map<String, Object> candidates = spec();
		session.submit("Suggest features", () -> {
			Map<String, Object> p = LiveSession.map(Key.SESSION, session.id);
			p.put(Key.IMAGE, session.images.get(0).id);
			p.put(Key.CANDIDATES, candidates);
			p.put(Key.METHOD, method);
			p.put(Key.N, n);
			try {
				Map<String, Object> out = PythonService.call(Protocol.LIVE_SUGGEST_FEATURES, p, null, "suggesting features");
				@SuppressWarnings("unchecked") Map<String, Object> s = (Map<String, Object>) out.get(Out.FEATURES);
				double oob = ((Number) out.get(Out.OOB_ERROR)).doubleValue(), all = ((Number) out.get(Out.OOB_ERROR_ALL)).doubleValue();
				SwingUtilities.invokeLater(() -> {
					load(s);
					preset.setSelectedItem("custom");
					JOptionPane.showMessageDialog(this, String.format("Suggested: %d feature cells.%nOut-of-bag error %.3f (all candidates: %.3f).",
						selected().values().stream().mapToInt(List::size).sum(), oob, all));
				});
			}
			finally {
				SwingUtilities.invokeLater(() -> button.setEnabled(true));
			}
		});
	}

	private void finish(Object spec) {
		dispose();
		session.submit("Features", () -> session.setFeatures(spec));
	}

	private static List<Double> parseScales(String text) {
		List<Double> out = new ArrayList<>();
		for (String t : text.split("[,;\\s]+")) {
			try {
				double v = Double.parseDouble(t.trim());
				if (v > 0 && !out.contains(v)) out.add(v);
			}
			catch (NumberFormatException ignored) { }
		}
		out.sort(Double::compare);
		return out;
	}

	private static String fmt(double s) { return s == Math.rint(s) ? String.valueOf((int) s) : String.valueOf(s); }
}
