package org.pixelforest.fiji;

import java.awt.Color;

/** A class of the live panel: its name and colour (an ImageJ ROI group holds its labels). */
final class LabelClass {

	/** ilastik's label colours: red, green, yellow, blue, magenta, cyan, pink, aquamarine, orange. */
	static final Color[] DEFAULT_COLORS = {
		new Color(255, 0, 0), new Color(0, 255, 0), new Color(255, 255, 0), new Color(0, 0, 255), new Color(255, 0, 255),
		new Color(0, 255, 255), new Color(255, 105, 180), new Color(102, 205, 170), new Color(255, 165, 0),
	};

	String name;
	Color color;

	LabelClass(String name, Color color) {
		this.name = name;
		this.color = color;
	}

	static Color defaultColor(int i) {
		if (i < DEFAULT_COLORS.length) return DEFAULT_COLORS[i];
		java.util.Random r = new java.util.Random(i);
		return new Color(32 + r.nextInt(224), 32 + r.nextInt(224), 32 + r.nextInt(224));
	}
}
