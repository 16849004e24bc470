package org.pixelforest.fiji;

import ij.CompositeImage;
import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.Calibration;
import ij.process.ByteProcessor;
import ij.process.FloatProcessor;
import ij.process.ImageProcessor;
import ij.process.LUT;
import ij.process.ShortProcessor;
import org.apposed.appose.NDArray;

import java.awt.Color;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/** ImagePlus <-> shared-memory NDArray in ImageJ's own order (T, Z, C, Y, X): one bulk copy per plane. */
public final class ImageBridge {

	private ImageBridge() {}

	static ByteBuffer buffer(NDArray nd) {
		return nd.buffer().order(ByteOrder.nativeOrder());
	}

	/** The image's pixels as a new (T, Z, C, Y, X) NDArray; RGB becomes 3 uint8 channels. */
	public static NDArray toNDArray(ImagePlus imp) {
		int w = imp.getWidth(), h = imp.getHeight();
		int c = imp.getNChannels(), z = imp.getNSlices(), t = imp.getNFrames();
		int bd = imp.getBitDepth();
		boolean rgb = bd == 24;
		if (rgb && c != 1) throw new IllegalArgumentException("RGB hyperstacks with several channels are not supported; make a composite first");
		int cc = rgb ? 3 : c;
		NDArray.DType dtype = bd == 16 ? NDArray.DType.UINT16 : bd == 32 ? NDArray.DType.FLOAT32 : NDArray.DType.UINT8;
		NDArray nd = new NDArray(dtype, new NDArray.Shape(NDArray.Shape.Order.C_ORDER, t, z, cc, h, w));
		ByteBuffer buf = buffer(nd);
		ImageStack stack = imp.getStack();
		int plane = w * h;
		for (int ti = 0; ti < t; ti++) for (int zi = 0; zi < z; zi++) {
			if (rgb) {
				int[] px = (int[]) stack.getPixels(imp.getStackIndex(1, zi + 1, ti + 1));
				int base = (ti * z + zi) * 3 * plane;
				for (int k = 0; k < 3; k++) {
					int shift = 16 - 8 * k;
					byte[] ch = new byte[plane];
					for (int i = 0; i < plane; i++) ch[i] = (byte) ((px[i] >> shift) & 0xff);
					buf.position(base + k * plane);
					buf.put(ch);
				}
				continue;
			}
			for (int ci = 0; ci < c; ci++) {
				Object px = stack.getPixels(imp.getStackIndex(ci + 1, zi + 1, ti + 1));
				int index = ((ti * z + zi) * c + ci) * plane;
				if (px instanceof byte[]) { buf.position(index); buf.put((byte[]) px); }
				else if (px instanceof short[]) { buf.position(2 * index); buf.asShortBuffer().put((short[]) px); }
				else { buf.position(4 * index); buf.asFloatBuffer().put((float[]) px); }
			}
		}
		return nd;
	}

	/** A (T, Z, K, Y, X) float32 or uint8 NDArray as an ImagePlus (hyperstack when needed). */
	public static ImagePlus toImagePlus(NDArray nd, String title, List<String> labels, Calibration cal) {
		int[] s = nd.shape().toIntArray(NDArray.Shape.Order.C_ORDER);
		int t = s[0], z = s[1], k = s[2], h = s[3], w = s[4];
		int plane = w * h;
		ByteBuffer buf = buffer(nd);
		boolean isFloat = nd.dType() == NDArray.DType.FLOAT32;
		ImageStack stack = new ImageStack(w, h);
		for (int ti = 0; ti < t; ti++) for (int zi = 0; zi < z; zi++) for (int ki = 0; ki < k; ki++) {
			int index = ((ti * z + zi) * k + ki) * plane;
			ImageProcessor ip;
			if (isFloat) {
				float[] px = new float[plane];
				buf.position(4 * index);
				buf.asFloatBuffer().get(px);
				ip = new FloatProcessor(w, h, px);
			}
			else {
				byte[] px = new byte[plane];
				buf.position(index);
				buf.get(px);
				ip = new ByteProcessor(w, h, px);
			}
			String label = labels != null && labels.size() == k ? labels.get(ki) : null;
			stack.addSlice(label, ip);
		}
		ImagePlus imp = new ImagePlus(title, stack);
		imp.setDimensions(k, z, t);
		if (k > 1) imp = new CompositeImage(imp, CompositeImage.COMPOSITE);
		if ((k > 1 ? 1 : 0) + (z > 1 ? 1 : 0) + (t > 1 ? 1 : 0) > 1) imp.setOpenAsHyperStack(true);
		if (cal != null) imp.setCalibration(cal.copy());
		return imp;
	}

	/** Class colours on the channels of a probability image, display range 0..1. */
	public static void styleProbabilities(ImagePlus imp, List<Color> colors) {
		int k = imp.getNChannels();
		if (imp instanceof CompositeImage) {
			CompositeImage ci = (CompositeImage) imp;
			for (int c = 0; c < k && c < colors.size(); c++) {
				ci.setChannelLut(LUT.createLutFromColor(colors.get(c)), c + 1);
				ci.setPositionWithoutUpdate(c + 1, 1, 1);
				ci.setDisplayRange(0, 1);
			}
			ci.setPositionWithoutUpdate(1, 1, 1);
		}
		else imp.setDisplayRange(0, 1);
	}

	/** A LUT with class k in the colour of class k (0 black). */
	public static void styleSegmentation(ImagePlus imp, List<Color> colors) {
		byte[] r = new byte[256], g = new byte[256], b = new byte[256];
		for (int k = 0; k < colors.size() && k < 255; k++) {
			Color c = colors.get(k);
			r[k + 1] = (byte) c.getRed(); g[k + 1] = (byte) c.getGreen(); b[k + 1] = (byte) c.getBlue();
		}
		LUT lut = new LUT(r, g, b);
		imp.getProcessor().setLut(lut);
		imp.getStack().setColorModel(lut);
		imp.setDisplayRange(0, 255);
	}

	/** A (T, Z, C, Y, X) array (any ImageJ type) as an image, for Import HDF5. */
	public static ImagePlus importedImage(NDArray nd, String title) {
		int[] s = nd.shape().toIntArray(NDArray.Shape.Order.C_ORDER);
		int t = s[0], z = s[1], c = s[2], h = s[3], w = s[4];
		int plane = w * h;
		ByteBuffer buf = buffer(nd);
		ImageStack stack = new ImageStack(w, h);
		for (int i = 0; i < t * z * c; i++) {
			long index = (long) i * plane;
			ImageProcessor ip;
			switch (nd.dType()) {
				case UINT8: case INT8: {
					byte[] px = new byte[plane]; buf.position((int) index); buf.get(px); ip = new ByteProcessor(w, h, px); break;
				}
				case UINT16: case INT16: {
					short[] px = new short[plane]; buf.position((int) (2 * index)); buf.asShortBuffer().get(px);
					ip = new ShortProcessor(w, h, px, null); break;
				}
				case FLOAT32: {
					float[] px = new float[plane]; buf.position((int) (4 * index)); buf.asFloatBuffer().get(px);
					ip = new FloatProcessor(w, h, px); break;
				}
				default:
					throw new IllegalArgumentException("Import HDF5: " + nd.dType() + " data must be converted to 8, 16 or 32 bit first");
			}
			stack.addSlice(null, ip);
		}
		ImagePlus imp = new ImagePlus(title, stack);
		imp.setDimensions(c, z, t);
		if (c > 1) imp = new CompositeImage(imp, CompositeImage.COMPOSITE);
		if ((c > 1 ? 1 : 0) + (z > 1 ? 1 : 0) + (t > 1 ? 1 : 0) > 1) imp.setOpenAsHyperStack(true);
		return imp;
	}

}
